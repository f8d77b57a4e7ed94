"""What a model instance already holds of its relations, so a write need not read them again.

A write's answer is the detail representation, which reads the relations `scope_queryset` joins
and prefetches. When the written instance already holds them (a create's validated relations, a
transition's row locked after the joined read), serializing it directly saves a second joined
read: the deal detail's seven tables cost ~1 ms to plan and ~1 ms to compile (bench/RESULTS.md).
"""

from django.db.models import ForeignKey, Model, QuerySet

from crmApp.selectors.embedded import ANNOTATION_PREFIX, EMBEDDED_ATTRIBUTE

_MISSING = object()


def _loaded(obj: Model, name: str):
    """What forward relation `name` of `obj` holds: the object, None when the key is null,
    `_MISSING` when it is not loaded (or `name` is not a forward relation)."""
    field = obj._meta.get_field(name)
    # A forward relation with a column of its own (OneToOneField is a ForeignKey): the only kind
    # `select_related` joins, and the only kind that caches its object on the instance.
    if not isinstance(field, ForeignKey):
        return _MISSING
    if getattr(obj, field.attname) is None:
        return None
    return field.get_cached_value(obj) if field.is_cached(obj) else _MISSING


def _joins_loaded(obj: Model, paths: dict) -> bool:
    for name, deeper in paths.items():
        related = _loaded(obj, name)
        if related is _MISSING:
            return False
        if related is not None and deeper and not _joins_loaded(related, deeper):
            return False
    return True


def _prefetch_loaded(obj: Model, lookup) -> bool:
    *path, name = getattr(lookup, "prefetch_through", lookup).split("__")
    for part in path:
        obj = _loaded(obj, part)
        if obj is _MISSING:
            return False
        if obj is None:
            return True
    return name in getattr(obj, "_prefetched_objects_cache", {})


def relations_loaded(instance: Model, queryset: QuerySet) -> bool:
    """Whether `instance` holds every relation `queryset` would join or prefetch, and every
    annotation it would compute (a write that knows the value sets the attribute itself, as the
    deal services do with `stage_entered_at`). A relation read inside the query
    (`selectors.embedded`) counts as prefetched."""
    joins = queryset.query.select_related
    embedded = {
        ANNOTATION_PREFIX + relation: "__".join((*path, relation))
        for path, relation, _model, _ordering in getattr(queryset.query, EMBEDDED_ATTRIBUTE, ())
    }
    if joins is True or any(
        name not in embedded and not hasattr(instance, name) for name in queryset.query.annotations
    ):
        return False
    # A private attribute the stubs leave out; Django offers no public reader of the lookups.
    lookups = [*queryset._prefetch_related_lookups, *embedded.values()]  # type: ignore[attr-defined]
    return (not joins or _joins_loaded(instance, joins)) and all(
        _prefetch_loaded(instance, lookup) for lookup in lookups
    )


def carry_loaded_relations(source: Model, target: Model) -> None:
    """Give `target` (the same row, read again) the related objects `source` had loaded, for
    each relation that still points at the same row."""
    for field in type(target)._meta.concrete_fields:
        if (
            isinstance(field, ForeignKey)  # the concrete relations: those that cache an object
            and field.is_cached(source)
            and getattr(target, field.attname) == getattr(source, field.attname)
        ):
            field.set_cached_value(target, field.get_cached_value(source))
