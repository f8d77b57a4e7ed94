"""DRF permission classes for the organization-scoped viewsets.

`OrganizationPermission` is applied to every scoped viewset: the action must be in the table
(deny by default), the caller must hold it in some organization, and for a row the caller must
hold it in the row's own organization, which must be active for a write. The organization of a
row is read along its model's `TENANT_PATH`.
"""

from __future__ import annotations

from rest_framework import exceptions, permissions, serializers

from crmApp.models import ATTACHMENT_PARENTS
from crmApp.models.base import organization_id_of
from crmApp.permissions.access import Access, get_access, write_refusal
from crmApp.permissions.table import SELF_SERVICE, for_parent, required_permissions


def deny_write(refusal: str | None) -> None:
    """Raise the 403 for a `write_refusal` answer (its message, or DRF's default one)."""
    if refusal is not None:
        raise exceptions.PermissionDenied(refusal or None)


class TablePermission(permissions.IsAuthenticated):
    """Authenticated, and the action is in the table."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        return required_permissions(view.basename, view.action) is not None


class OrganizationPermission(TablePermission):
    """The table's permissions, held in the organization the request acts on.

    Collection actions need the permission in at least one organization (a create that names an
    organization of the caller needs it there, and that organization must be active). Row
    actions need it in the row's organization; the row itself was already limited to
    organizations the caller may read, so a stranger's row is a 404 before this runs.
    """

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        required = required_permissions(view.basename, view.action)
        if required is None:
            return False  # not in the table: already refused by TablePermission above
        if required == SELF_SERVICE or view.detail:
            return True  # the row's own organization is checked in has_object_permission
        access = get_access(request)
        if view.action == "create":
            hinted = view.create_organization_hint()
            if hinted is not None and hinted in access.member_org_ids:
                deny_write(write_refusal(access, hinted, required))
        return bool(access.orgs_with(required))

    def has_object_permission(self, request, view, obj) -> bool:
        required = required_permissions(view.basename, view.action)
        if required is None:
            return False  # deny by default, as has_permission does for the same action
        if required == SELF_SERVICE:
            return True
        access = get_access(request)
        organization_id = organization_id_of(obj)
        if request.method in permissions.SAFE_METHODS:
            return access.has(organization_id, required)
        deny_write(write_refusal(access, organization_id, required))
        return True


def organizations_by_parent_kind(access: Access, required) -> dict[str, frozenset[int]]:
    """Parent kind -> organizations where `required` (with the parent marker) is held."""
    return {
        kind: access.orgs_with(for_parent(required, resource))
        for kind, resource in ATTACHMENT_PARENTS.items()
    }


class ParentRecordPermission(OrganizationPermission):
    """The table's permissions with the parent marker read as the parent record's resource.

    A collection action needs the permission for at least one parent kind in some organization
    (the list then shows only the kinds and organizations where it is held; a create checks its
    parent's organization once the form has found the parent). A row action needs it for the
    row's own parent kind in the row's organization.
    """

    def has_permission(self, request, view) -> bool:
        if not TablePermission.has_permission(self, request, view):
            return False
        if view.detail:
            return True
        required = required_permissions(view.basename, view.action) or ()
        by_kind = organizations_by_parent_kind(get_access(request), required)
        return any(by_kind.values())

    def has_object_permission(self, request, view, obj) -> bool:
        required = required_permissions(view.basename, view.action)
        if required is None:
            return False
        required = for_parent(required, ATTACHMENT_PARENTS[obj.parent_type])
        access = get_access(request)
        organization_id = organization_id_of(obj)
        if request.method in permissions.SAFE_METHODS:
            return access.has(organization_id, required)
        deny_write(write_refusal(access, organization_id, required))
        return True


class ActivationSerializer(serializers.Serializer):
    """The `is_active` an organization update asks for, read before the update is validated."""

    is_active = serializers.BooleanField(required=False)


ADD_MEMBER_DENIED = "Only organization owners can add members."
ACTIVATION_DENIED = "Only organization owners can activate or deactivate an organization."


class OrganizationOwnerRules(OrganizationPermission):
    """The owner's extra rights on an organization row.

    Only an owner may switch `is_active`; an owner may reactivate or delete an inactive
    organization (everything else there is read-only); adding members is refused with its own
    message.
    """

    def has_object_permission(self, request, view, obj) -> bool:
        access = get_access(request)
        required = required_permissions(view.basename, view.action)
        # (`required` is None only for an action missing from the table, which has_permission
        # already refused; refusing again keeps the check total.)
        if view.action == "add_member" and (required is None or not access.has(obj.pk, required)):
            raise exceptions.PermissionDenied(ADD_MEMBER_DENIED)
        if view.action in ("update", "partial_update"):
            requested = self._requested_activation(request)
            changes_activation = requested is not None and requested != obj.is_active
            if changes_activation and obj.pk not in access.owner_org_ids:
                raise exceptions.PermissionDenied(ACTIVATION_DENIED)
            if not obj.is_active and obj.pk in access.owner_org_ids and requested is True:
                return True  # the owner holds every permission; reactivation while inactive
        if view.action == "destroy" and obj.pk in access.owner_org_ids:
            return True  # owner only; also allowed while inactive
        return super().has_object_permission(request, view, obj)

    @staticmethod
    def _requested_activation(request) -> bool | None:
        """The body's `is_active` when it is a valid boolean (bad values fail validation later)."""
        form = ActivationSerializer(data=request.data)
        if not form.is_valid():
            return None
        return form.validated_data.get("is_active")
