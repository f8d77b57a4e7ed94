"""Role-based access control.

- `table`: the vocabulary, the one table of what each viewset action needs, the system roles;
- `access`: what a caller holds per organization (one query per request) and the one rule for
  writing in an organization;
- `classes`: the DRF permission classes the scoped viewsets apply, object-level checks included.
"""

from crmApp.permissions.access import (
    INACTIVE_ORGANIZATION,
    Access,
    get_access,
    resolve_access,
    write_refusal,
)
from crmApp.permissions.classes import (
    OrganizationPermission,
    ParentRecordPermission,
    TablePermission,
    deny_write,
    organizations_by_parent_kind,
)
from crmApp.permissions.table import (
    ACTIONS,
    OWNER_ONLY,
    PARENT,
    PERMISSION_TABLE,
    RESOURCES,
    SELF_SERVICE,
    SYSTEM_PERMISSIONS,
    SYSTEM_ROLES,
    Perm,
    for_parent,
    required_permissions,
)

__all__ = [
    "ACTIONS",
    "INACTIVE_ORGANIZATION",
    "OWNER_ONLY",
    "PARENT",
    "ParentRecordPermission",
    "for_parent",
    "organizations_by_parent_kind",
    "PERMISSION_TABLE",
    "RESOURCES",
    "SELF_SERVICE",
    "SYSTEM_PERMISSIONS",
    "SYSTEM_ROLES",
    "Access",
    "OrganizationPermission",
    "Perm",
    "TablePermission",
    "deny_write",
    "get_access",
    "required_permissions",
    "resolve_access",
    "write_refusal",
]
