"""`PUT /api/<resource>/external/{external_id}/`: create or update by the caller's own id."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

MAX_EXTERNAL_ID_LENGTH = 255


def upsert_schema(serializer_class):
    """The schema of a resource's upsert: its form in, its detail out as 200 or 201."""
    return extend_schema(
        request=serializer_class, responses={200: serializer_class, 201: serializer_class}
    )


class ExternalIdUpsertMixin:
    """Create the record with this `external_id` in the organization (201) or replace the one
    that has it (200, a full update like PUT).

    The same serializer validates both, the same services write (`create_record`,
    `update_record`), and the same organization rules apply: the organization is the body's,
    else the header's, else the caller's only one; the action needs both the create and the
    update permission there. External ids are per organization, so another organization's
    record with the same id is neither seen nor touched. Two concurrent first upserts of one id
    meet at the unique constraint: one creates, the other is a 409 and may retry (an update).
    """

    @action(detail=False, methods=["put"], url_path=r"external/(?P<external_id>[^/]+)")
    def upsert(self, request, external_id=None):
        external_id = str(external_id)
        if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
            raise exceptions.ValidationError(
                {
                    "external_id": [
                        f"Ensure this field has no more than {MAX_EXTERNAL_ID_LENGTH} characters."
                    ]
                }
            )
        data = request.data.dict() if hasattr(request.data, "dict") else dict(request.data)
        named = data.get("external_id")
        if named not in (None, external_id):
            raise exceptions.ValidationError(
                {"external_id": ["Must be the external id of the URL (or left out)."]}
            )
        data["external_id"] = external_id
        existing = None
        organization_id = self.create_organization_hint()
        if organization_id is not None:
            existing = (
                self.get_queryset()
                .filter(organization_id=organization_id, external_id=external_id)
                .select_for_update(of=("self",))
                .first()
            )
        if existing is None:
            serializer = self.get_serializer(data=data)
            serializer.is_valid(raise_exception=True)
            self.check_organization_write(serializer.organization_id)
            instance = self.create_record(dict(serializer.validated_data))
            return Response(
                self.detail_data(instance, as_written=True), status=status.HTTP_201_CREATED
            )
        self.check_object_permissions(request, existing)
        serializer = self.get_serializer(existing, data=data)
        serializer.is_valid(raise_exception=True)
        instance = self.update_record(existing, dict(serializer.validated_data))
        return Response(self.detail_data(instance))
