"""The one table of what each viewset action needs, and the system roles' grants.

A permission is a `(resource, action)` pair in the contract's vocabulary. A member holds the
permissions granted to their active roles in that organization; holding `<resource>:manage`
implies every action on that resource; the organization owner holds everything. An action missing
from `PERMISSION_TABLE` is denied (deny by default).
"""

from __future__ import annotations

RESOURCES = (
    "users",
    "organizations",
    "roles",
    "permissions",
    "employees",
    "vendors",
    "customers",
    "leads",
    "deals",
    "pipelines",
    "reports",
    "settings",
    "events",
    "webhooks",
    "activities",
    "audit",
    "imports",
)
ACTIONS = ("view", "create", "update", "delete", "manage")

Perm = tuple[str, str]
#: Only the organization owner satisfies this (no role can be granted the "owner" action).
OWNER_ONLY: Perm = ("organizations", "owner")
#: Marker for actions any authenticated user may call; they act on the caller's own data only.
SELF_SERVICE: tuple[Perm, ...] = ()
#: Stands for the resource of the record a row hangs on (an attachment's customer, lead or deal):
#: `for_parent` replaces it with that resource before the check, so an attachment is read with
#: its parent's view permission and added or removed with its parent's update permission.
PARENT = "parent"


def for_parent(required: tuple[Perm, ...], resource: str) -> tuple[Perm, ...]:
    """`required` with the `PARENT` marker replaced by the parent record's `resource`."""
    return tuple((resource if name == PARENT else name, action) for name, action in required)


def _crud(resource: str, **extra: tuple[Perm, ...]) -> dict[str, tuple[Perm, ...]]:
    table: dict[str, tuple[Perm, ...]] = {
        "list": ((resource, "view"),),
        "retrieve": ((resource, "view"),),
        "create": ((resource, "create"),),
        "update": ((resource, "update"),),
        "partial_update": ((resource, "update"),),
        "destroy": ((resource, "delete"),),
    }
    table.update(extra)
    return table


def _bulk(resource: str) -> dict[str, tuple[Perm, ...]]:
    return {
        "stats": ((resource, "view"),),
        "export_csv": ((resource, "view"),),
        "bulk_update": ((resource, "update"),),
        "bulk_delete": ((resource, "delete"),),
    }


#: viewset basename -> viewset action -> permissions required (all of them).
PERMISSION_TABLE: dict[str, dict[str, tuple[Perm, ...]]] = {
    "organization": _crud(
        "organizations",
        create=SELF_SERVICE,
        destroy=(OWNER_ONLY,),
        my_organizations=SELF_SERVICE,
        members=(("organizations", "view"),),
        add_member=(("organizations", "manage"),),
        remove_member=(("organizations", "manage"),),
        leave=SELF_SERVICE,
    ),
    "user-organization": _crud(
        "organizations",
        create=(("organizations", "manage"),),
        update=(("organizations", "manage"),),
        partial_update=(("organizations", "manage"),),
        destroy=(("organizations", "manage"),),
        deactivate=(("organizations", "manage"),),
    ),
    "permission": _crud("permissions", by_resource=(("permissions", "view"),)),
    "role": _crud(
        "roles",
        assign_permission=(("roles", "manage"),),
        remove_permission=(("roles", "manage"),),
    ),
    "user-role": _crud(
        "roles",
        create=(("roles", "manage"),),
        update=(("roles", "manage"),),
        partial_update=(("roles", "manage"),),
        destroy=(("roles", "manage"),),
        my_roles=SELF_SERVICE,
    ),
    "employee": _crud(
        "employees",
        departments=(("employees", "view"),),
        terminate=(("employees", "update"),),
    ),
    "vendor": _crud("vendors", types=(("vendors", "view"),)),
    "customer": _crud(
        "customers",
        upsert=(("customers", "create"), ("customers", "update")),
        activate=(("customers", "update"),),
        deactivate=(("customers", "update"),),
        timeline=(("customers", "view"),),
        **_bulk("customers"),
    ),
    "lead": _crud(
        "leads",
        upsert=(("leads", "create"), ("leads", "update")),
        qualify=(("leads", "update"),),
        disqualify=(("leads", "update"),),
        convert=(("leads", "update"), ("customers", "create")),
        timeline=(("leads", "view"),),
        **_bulk("leads"),
    ),
    "pipeline": _crud("pipelines", set_default=(("pipelines", "update"),)),
    "pipeline-stage": _crud(
        "pipelines",
        create=(("pipelines", "update"),),
        destroy=(("pipelines", "update"),),
        reorder=(("pipelines", "update"),),
    ),
    "deal": _crud(
        "deals",
        upsert=(("deals", "create"), ("deals", "update")),
        move_stage=(("deals", "update"),),
        mark_won=(("deals", "update"),),
        mark_lost=(("deals", "update"),),
        reopen=(("deals", "update"),),
        stage_history=(("deals", "view"),),
        rotting=(("deals", "view"),),
        timeline=(("deals", "view"),),
        **_bulk("deals"),
    ),
    # Reports read deals, their stage history and leads, but are granted on their own.
    "report": dict.fromkeys(
        ("funnel", "time_in_stage", "win_rate", "velocity", "forecast", "lead_sources"),
        (("reports", "view"),),
    ),
    "event": {"list": (("events", "view"),), "retrieve": (("events", "view"),)},
    "activity": _crud(
        "activities",
        complete=(("activities", "update"),),
        reopen=(("activities", "update"),),
        my_tasks=(("activities", "view"),),
        stats=(("activities", "view"),),
    ),
    # Who changed what: owners and admins by default (audit:view), nobody can write it.
    "audit-event": {"list": (("audit", "view"),), "retrieve": (("audit", "view"),)},
    # Invitations name people outside the organization: managing members, not reading them.
    "invitation": dict.fromkeys(
        ("list", "retrieve", "resend", "revoke"), (("organizations", "manage"),)
    ),
    # Endpoints send the organization's records to outside URLs, so creating and changing them
    # (and seeing a secret) is left to admins; managers may watch them and their deliveries.
    "webhook": _crud(
        "webhooks",
        deliveries=(("webhooks", "view"),),
        rotate_secret=(("webhooks", "update"),),
        test=(("webhooks", "update"),),
    ),
    "webhook-delivery": {
        "list": (("webhooks", "view"),),
        "retrieve": (("webhooks", "view"),),
        "redeliver": (("webhooks", "update"),),
    },
    # Attachments follow the record they hang on (see PARENT).
    "attachment": {
        **dict.fromkeys(("list", "retrieve", "download"), ((PARENT, "view"),)),
        **dict.fromkeys(("create", "destroy"), ((PARENT, "update"),)),
    },
    # Starting an import also needs the target resource's create permission (and update for an
    # upsert) in the organization, checked once the form names the resource.
    "import": {
        **dict.fromkeys(("list", "retrieve", "errors"), (("imports", "view"),)),
        **dict.fromkeys(("create", "cancel"), (("imports", "create"),)),
    },
}

_CRM = ("employees", "vendors", "customers", "leads", "deals", "pipelines", "activities")

#: System roles created for every organization: slug -> (name, description, grants).
SYSTEM_ROLES: dict[str, tuple[str, str, tuple[Perm, ...]]] = {
    "admin": (
        "Administrator",
        "Everything, including members, roles and permissions.",
        tuple((resource, "manage") for resource in RESOURCES),
    ),
    "manager": (
        "Manager",
        "Full control of CRM records; reads organization settings.",
        tuple((r, a) for r in (*_CRM, "reports") for a in ("view", "create", "update", "delete"))
        + tuple(
            (r, "view")
            for r in ("organizations", "users", "roles", "permissions", "events", "webhooks")
        )
        + (("imports", "view"), ("imports", "create")),
    ),
    "sales": (
        "Sales",
        "Works customers, leads and deals; reads the rest of the CRM.",
        tuple(
            (r, a)
            for r in ("customers", "leads", "deals", "activities")
            for a in ("view", "create", "update")
        )
        + tuple(
            (r, "view") for r in ("employees", "vendors", "pipelines", "organizations", "users")
        ),
    ),
    "viewer": (
        "Viewer",
        "Reads CRM records.",
        tuple((r, "view") for r in (*_CRM, "reports", "organizations", "users")),
    ),
}


#: The permissions created with every organization: exactly those the system roles grant. The
#: other pairs of the vocabulary are left for clients to create (and grant to custom roles).
SYSTEM_PERMISSIONS: tuple[Perm, ...] = tuple(
    sorted({perm for _name, _description, grants in SYSTEM_ROLES.values() for perm in grants})
)


def required_permissions(basename: str, action: str | None) -> tuple[Perm, ...] | None:
    """What the table says an action needs; None when the action is not in the table (denied)."""
    return PERMISSION_TABLE.get(basename, {}).get(action or "")
