"""What one caller may do in each organization, resolved once per request."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from crmApp.db import hot_cursor
from crmApp.permissions.table import OWNER_ONLY, Perm


@dataclass
class Access:
    """What one user may do, per organization; resolved once per request (one query)."""

    user_id: int | None
    member_org_ids: frozenset[int] = frozenset()
    owner_org_ids: frozenset[int] = frozenset()
    active_org_ids: frozenset[int] = frozenset()
    grants: dict[int, frozenset[Perm]] = field(default_factory=dict)

    def has(self, organization_id: int | None, required: tuple[Perm, ...]) -> bool:
        # None is a row whose tenant path ends nowhere: nobody is a member of that.
        if organization_id not in self.member_org_ids:
            return False
        if organization_id in self.owner_org_ids:
            return True
        if OWNER_ONLY in required:
            return False  # no grant, not even organizations:manage, stands in for ownership
        held = self.grants.get(organization_id, frozenset())
        return all(perm in held or (perm[0], "manage") in held for perm in required)

    def orgs_with(self, required: tuple[Perm, ...]) -> frozenset[int]:
        return frozenset(org for org in self.member_org_ids if self.has(org, required))


#: Memberships and role grants of one user in one round trip. Membership rows carry
#: (organization, is_owner, organization active, NULL, NULL, NULL); grant rows (role's
#: organization, NULL, NULL, assignment's organization, resource, action) of active roles assigned
#: through active assignments. Which grants count (both organizations must be active memberships)
#: is decided in Python: the IN-subquery form of that rule tripled the planning time, which was
#: most of this query's ~1.5 ms. Plain SQL: compiling the equivalent ORM union cost ~4 ms.
ACCESS_SQL = """
SELECT uo.organization_id AS org_id, uo.is_owner AS owner, o.is_active AS org_active,
       NULL AS assigned_in, NULL AS resource, NULL AS action
  FROM user_organizations uo
  JOIN organizations o ON o.id = uo.organization_id
 WHERE uo.user_id = %(user)s AND uo.is_active = %(yes)s
UNION ALL
SELECT r.organization_id, NULL, NULL, ur.organization_id, p.resource, p.action
  FROM user_roles ur
  JOIN roles r ON r.id = ur.role_id
  JOIN role_permissions rp ON rp.role_id = r.id
  JOIN permissions p ON p.id = rp.permission_id
 WHERE ur.user_id = %(user)s AND ur.is_active = %(yes)s AND r.is_active = %(yes)s
"""


#: The columns of one ACCESS_SQL row, in order (a statement embedding it selects these).
ACCESS_COLUMNS = ("org_id", "owner", "org_active", "assigned_in", "resource", "action")
#: Where authentication leaves the access rows it read with the session (a list of ACCESS_SQL
#: rows), on the user instance of the request: `resolve_access` then needs no query.
PRELOADED_ACCESS_ROWS = "_crm_access_rows"

AccessRow = tuple[int | None, bool | None, bool | None, int | None, str | None, str | None]


def resolve_access(user) -> Access:
    """Memberships and role grants of `user`, read in ONE query (see ACCESS_SQL), or none when
    authentication already read them in its session query (`PRELOADED_ACCESS_ROWS`).

    A grant counts only when both the role's and the assignment's organization are active
    memberships of the user: leaving an organization (or being deactivated in it) ends every
    permission held there at once, whatever role assignments remain.
    """
    if user is None or not user.is_authenticated:
        return Access(user_id=None)
    rows = getattr(user, PRELOADED_ACCESS_ROWS, None)
    if rows is None:
        with hot_cursor() as cursor:
            cursor.execute(ACCESS_SQL, {"user": user.pk, "yes": True})
            rows = cursor.fetchall()
    return access_from_rows(user.pk, rows)


def access_from_rows(user_id: int, rows) -> Access:
    """The Access of ACCESS_SQL's rows (a row of nothing but nulls is skipped: an outer join's
    answer for a user without memberships or grants)."""
    member_ids: set[int] = set()
    owner_ids: set[int] = set()
    active_ids: set[int] = set()
    assigned: list[tuple[int, int, Perm]] = []
    for org_id, is_owner, org_active, assigned_in, resource, action in rows:
        if resource is None:
            if org_id is None:
                continue
            member_ids.add(org_id)
            if is_owner:
                owner_ids.add(org_id)
            if org_active:
                active_ids.add(org_id)
        else:
            assigned.append((org_id, assigned_in, (resource, action)))
    grants: dict[int, set[Perm]] = defaultdict(set)
    for org_id, assigned_in, perm in assigned:
        if org_id in member_ids and assigned_in in member_ids:
            grants[org_id].add(perm)
    return Access(
        user_id=user_id,
        member_org_ids=frozenset(member_ids),
        owner_org_ids=frozenset(owner_ids),
        active_org_ids=frozenset(active_ids),
        grants={org: frozenset(perms) for org, perms in grants.items()},
    )


def get_access(request) -> Access:
    """The caller's access, cached on the request object."""
    access = getattr(request, "_crm_access", None)
    if access is None:
        access = resolve_access(getattr(request, "user", None))
        request._crm_access = access
    return access


#: Why a write in an inactive organization is refused (its records are read-only).
INACTIVE_ORGANIZATION = "This organization is inactive; its records are read-only."


def write_refusal(
    access: Access, organization_id: int | None, required: tuple[Perm, ...]
) -> str | None:
    """The one rule for writing in an organization: None when allowed, else why not.

    The caller must hold `required` there, and the organization must be active (an inactive
    organization's records are read-only). Every write path asks this, whether the organization
    is known before validation (an existing row, a create's hint) or only after it.
    """
    if not access.has(organization_id, required):
        return ""
    if organization_id not in access.active_org_ids:
        return INACTIVE_ORGANIZATION
    return None
