"""System checks for what a test run may never reach: detail serializers shared between requests.

`represent()` answers every detail with one serializer per class and thread, its fields built
once without any caller's context. A detail serializer whose fields depend on the context (a
field hidden for one role) would be refused at its first request; this check refuses it at
startup instead, naming the class, so it cannot reach a deployment.
"""

from django.core import checks

from crmApp.serializers.base import ContextDependentFields, reusable_serializer

E001 = "crmApp.E001"


@checks.register()
def detail_serializers_are_reusable(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if app_configs is not None and not any(config.name == "crmApp" for config in app_configs):
        return []
    # Imported here, not at module level: the URLconf imports every viewset, which must not
    # happen while the app registry is still being populated (this module loads in `ready()`).
    from crmApp.urls import router

    used_by: dict[type, list[str]] = {}
    for _prefix, viewset, basename in router.registry:
        serializer_class = (getattr(viewset, "serializer_classes", None) or {}).get("default")
        if serializer_class is not None:
            used_by.setdefault(serializer_class, []).append(basename)

    errors = []
    for serializer_class, basenames in used_by.items():
        try:
            reusable_serializer(serializer_class)
        except ContextDependentFields:
            name = f"{serializer_class.__module__}.{serializer_class.__qualname__}"
            errors.append(
                checks.Error(
                    f"{name} (the detail of {', '.join(basenames)}) reads the context while "
                    "building its fields, so it cannot be shared between requests.",
                    hint="Read the request in to_representation, a SerializerMethodField or "
                    "validation, not in get_fields or build_field.",
                    obj=serializer_class,
                    id=E001,
                )
            )
    return errors
