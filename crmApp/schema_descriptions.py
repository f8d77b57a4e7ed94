"""What each operation of the OpenAPI schema says it does, for readers of Swagger UI and Redoc.

`crmApp.schema.EnvelopeAutoSchema` builds every operation's description from three parts:

1. what it does: an `@extend_schema(description=...)` on the action when there is one, else the
   entry of `DESCRIPTIONS` for `"<basename>.<action>"` or `"<action>"` (`{one}`, `{many}` and
   `{a_one}` are the resource's names), else the docstring of the action method or API view
   class itself (never one inherited from a base class, which explains code, not the API);
2. who may call it, read from the permission table (`crmApp/permissions/table.py`) or, for
   views outside it, from their permission classes;
3. the errors every operation shares are not repeated: they are the documented responses.

A new operation therefore needs nothing here when it is a standard action (list, retrieve,
create, update, partial_update, destroy); a custom action gets an entry below or a docstring
on its method written for API users. `tests/test_schema.py` fails on an operation without a
summary, a description that says more than its summary, or a tag.
"""

#: The organization narrowing, said once for every list.
NARROWING = (
    "Narrow to one organization with the `X-Organization-ID` header or `?organization=`; "
    "without it the list covers every organization where you may read {many}."
)
NOT_FOUND = "Another organization's {one} is a 404, exactly like a missing one."
RELATED_IDS = (
    "Every related id must belong to the same organization (a 400 naming the field otherwise)."
)

DESCRIPTIONS: dict[str, str] = {
    # The standard actions of every resource.
    "list": (
        "Lists {many}, paginated (`page`, `page_size` up to 100), in ascending id order unless "
        "`ordering` says otherwise. " + NARROWING + " Filters, `search` and `ordering` are the "
        "query parameters below; an unknown parameter or value is a 400."
    ),
    "retrieve": "Reads one {one} by id. " + NOT_FOUND,
    "create": (
        "Creates {a_one} and answers 201 with its detail. The organization is the body's "
        "`organization`, else the `X-Organization-ID` header, else your only organization. "
        + RELATED_IDS
    ),
    "update": (
        "Replaces {a_one}: the body is the whole writable representation and answers the "
        "detail. The organization never changes. " + RELATED_IDS + " " + NOT_FOUND
    ),
    "partial_update": (
        "Changes the fields sent and answers the detail; the others keep their values. "
        + RELATED_IDS
        + " "
        + NOT_FOUND
    ),
    "destroy": "Deletes {a_one}: 204 without a body. " + NOT_FOUND,
    # Shared by customers, leads and deals.
    "stats": (
        "Counts and sums of the {many} of the organizations where you may read them, narrowed by "
        "`X-Organization-ID` / `?organization=` (list filters do not apply). Values are summed as "
        "stored; currencies are not converted."
    ),
    "export_csv": (
        "Streams the filtered, searched and ordered list as CSV (every column, at most "
        "1,000,000 rows). Cells a spreadsheet would run as a formula are prefixed with `'`."
    ),
    "bulk_update": (
        "Applies the same changes (only the fields listed in the body schema) to up to 1,000 "
        "{many} by id, all or nothing: one unknown id or invalid row is a 400 with the errors "
        "per id, and nothing is written."
    ),
    "bulk_delete": (
        "Deletes up to 1,000 {many} by id, all or nothing: an id you cannot see is a 400 "
        "listing it, one you may not delete a 403, and nothing is deleted."
    ),
    "upsert": (
        "Creates the {one} with the external id of the URL (201) or replaces the one that has "
        "it (200, like `PUT`), with the validation, services and events of a create or update. "
        "Another organization's record with the same external id is never touched. A body "
        "`external_id` must equal the URL's; two simultaneous first upserts give one 409 that "
        "can be retried."
    ),
    "activate": "Sets the {one}'s status to `active` and answers a message with the detail.",
    "deactivate": "Sets the {one}'s status to `inactive` and answers a message with the detail.",
    # Leads.
    "lead.qualify": (
        "Marks the lead `qualified`. A converted lead's qualification is fixed (400)."
    ),
    "lead.disqualify": (
        "Marks the lead `unqualified`. A converted lead's qualification is fixed (400)."
    ),
    "lead.convert": (
        "Turns the lead into a new customer of the same organization (optionally of "
        "`customer_type` and assigned to an employee of that organization) and answers 201 "
        "with the customer's id. A lead converts once: a converted, `unqualified` or `lost` "
        "lead is a 400. Records `lead.converted` and `customer.created`."
    ),
    # Deals.
    "deal.move_stage": (
        "Moves the deal to another stage of its own pipeline: an open stage copies its "
        "probability, a closed-won or closed-lost stage wins or loses the deal. A stage of "
        "another pipeline is a 404; a won or lost deal only enters a stage of its outcome (400; "
        "reopen it first). Records the stage history and `deal.stage_changed`."
    ),
    "deal.mark_won": (
        "Wins an open deal: status `closed`, probability 100, today's close date. Marking a won "
        "deal again changes nothing (200); a lost deal must be reopened first (400)."
    ),
    "deal.mark_lost": (
        "Loses an open deal with an optional `lost_reason`: status `closed`, probability 0, "
        "today's close date. Losing a lost deal only updates a reason that is sent; a won deal "
        "must be reopened first (400)."
    ),
    "deal.reopen": (
        "Reopens a won or lost deal: open again, without close date or lost reason, with its "
        "stage's probability. An open deal is a 400."
    ),
    "deal.stage_history": (
        "The deal's stays in each stage, newest first, paginated: stage, outcome (`open`, "
        "`won`, `lost`), when it was entered and left, and who moved it."
    ),
    "deal.rotting": (
        "Open deals that have been in their stage longer than the stage's `rotting_days`, "
        "oldest first, paginated, with the days spent in the stage."
    ),
    # Timelines (customers, leads and deals).
    "timeline": (
        "The {one}'s history in one list, newest first: its activities, its audit entries "
        "(only for callers who also hold `audit:view`) and, for a deal, its stage changes. "
        "Keyset pages: follow `next` (`cursor`), never a page number, so a page costs the same "
        "at any depth and entries written meanwhile neither repeat nor go missing. " + NOT_FOUND
    ),
    # Activities.
    "activity.complete": (
        "Marks the activity done now and answers its detail. Completing a done activity changes "
        "nothing and records nothing; otherwise it records `activity.completed`."
    ),
    "activity.reopen": (
        "Clears the activity's completion time, so a task counts as open (and overdue when its "
        "due time has passed) again. Reopening an open activity changes nothing."
    ),
    "activity.my_tasks": (
        "Your own open tasks: activities of type `task`, not completed, assigned to an employee "
        "record linked to your user, soonest due first (undated last), paginated like a list."
    ),
    # Attachments and imports.
    "attachment.download": (
        "The stored file, streamed as an attachment under its sanitised name, with the content "
        "type detected at upload and `X-Content-Type-Options: nosniff`. With S3 storage, a "
        "redirect to a signed URL valid for `ATTACHMENT_URL_EXPIRY_SECONDS`."
    ),
    "import.cancel": (
        "Stops a pending or running import before its next batch and answers the job; batches "
        "already committed stay. A finished, failed or cancelled job is a 400."
    ),
    "import.errors": (
        "The rows the import refused, as CSV: the row number, the reason, then the row's cells "
        "in the file's columns. Empty (a header only) when every row passed."
    ),
    # Pipelines and stages.
    "pipeline.set_default": (
        "Makes the pipeline its organization's default; the previous default stops being one "
        "in the same transaction."
    ),
    "pipeline-stage.create": (
        "Adds a stage to a pipeline of yours. `order` is 0-based: an order past the end appends "
        "the stage, an earlier one shifts the stages after it. The pipeline must be one of your "
        "organization's (400)."
    ),
    "pipeline-stage.destroy": (
        "Deletes a stage. A stage holding deals is a 409 unless `move_to` (query parameter or "
        "body) names another stage of the same pipeline: its deals are moved there through the "
        "deal state machine, then the stage is deleted, in one transaction. A closed deal that "
        "may not enter the target refuses the whole delete (400)."
    ),
    "pipeline-stage.reorder": (
        "Moves the stage to another existing position (`order`, 0..n-1, else 400); the stages "
        "in between shift so the order stays dense."
    ),
    # Employees and vendors.
    "employee.departments": (
        "The distinct non-empty departments of the employees you may read, sorted (at most 500)."
    ),
    "vendor.types": "The vendor types in use among the vendors you may read.",
    # Organizations and memberships.
    "organization.list": "Lists the organizations where you are an active member, paginated.",
    "organization.create": (
        "Creates an organization with you as its owner, with the system roles and permissions. "
        "Refused (400) once you have `MAX_ORGANIZATIONS_PER_USER` active memberships; throttled "
        "per user."
    ),
    "organization.retrieve": "Reads an organization where you are a member; any other id is a 404.",
    "organization.destroy": "Deletes the organization and everything it owns: its owner only.",
    "organization.members": "The organization's members (at most 500), with their roles.",
    "organization.add_member": (
        "Invites a person by `email` (201 with the invitation, the same answer whether or not "
        "an account uses the address), or adds at once by `user_id` a verified account that "
        "already shares an organization with you. A role given must be one you could grant "
        "(403 otherwise); `is_owner` is a 400."
    ),
    "organization.remove_member": (
        "Deactivates a member's membership and drops their roles in the organization. The last "
        "active owner can never be removed, and only owners change an owner's membership."
    ),
    "organization.leave": (
        "Ends your own membership (and your roles there). The last active owner cannot leave."
    ),
    "user-organization.create": (
        "Adds a member to the organization named by `organization_id`, like `add_member`: by "
        "email an invitation, by id only a verified account sharing an organization with you."
    ),
    "user-organization.deactivate": (
        "Suspends a membership without dropping the member's roles. The last active owner "
        "cannot be deactivated."
    ),
    # Roles and permissions.
    "permission.by_resource": "The permissions you may read, grouped by resource (at most 1,000).",
    "role.assign_permission": (
        "Grants a permission of the same organization to the role; you must hold it yourself "
        "(403). System roles' grants are fixed."
    ),
    "role.remove_permission": (
        "Withdraws a permission from the role; you must hold it yourself (403)."
    ),
    "user-role.create": (
        "Assigns a role of the organization to one of its active members; you must hold every "
        "permission the role carries (403)."
    ),
    # Users and sessions.
    "user.list": (
        "Lists the accounts you may see: yourself and the members of organizations where you "
        "hold `users:view`, paginated."
    ),
    "user.retrieve": (
        "Reads an account you may see (yourself, or a member of an organization where you "
        "hold `users:view`); any other id is a 404."
    ),
    "user.create": (
        "Registers an account (no token needed) and mails an email verification link. Without "
        "`username` one is derived from the email's local part. Passwords go through Django's "
        "validators (400)."
    ),
    "user.update": "Replaces your own profile; another account is never editable (403/404).",
    "user.partial_update": "Changes your own profile; another account is never editable.",
    "user.destroy": "Accounts cannot be deleted through the API: always refused.",
    "user.me": (
        "Your own account: `GET` reads it, `PUT`/`PATCH` change your profile (both partial)."
    ),
    "refresh-token.list": "Lists your own login sessions (newest first), paginated.",
    "refresh-token.retrieve": "Reads one of your own login sessions; another's is a 404.",
    "refresh-token.destroy": (
        "Deletes one of your login sessions, which ends it: its tokens answer 401 at once."
    ),
    "refresh-token.revoke": (
        "Ends one of your login sessions: its access and refresh tokens answer 401 at once."
    ),
    # Events, invitations, webhooks.
    "event.list": (
        "The organization's domain events, newest first, with cursor pagination (follow "
        "`next`), filtered by type, resource, resource id and creation time."
    ),
    "event.retrieve": "One domain event with its snapshot of the record. " + NOT_FOUND,
    "audit-event.list": (
        "Who changed what, and when: one entry per write (the action, the record, the changed "
        "fields with old and new values, the actor and the request id), newest first, with "
        "cursor pagination (follow `next`), filtered by resource, record, actor, action and "
        "time range. Secrets are never recorded."
    ),
    "audit-event.retrieve": "One audit entry with its changed fields. " + NOT_FOUND,
    "invitation.list": (
        "The organization's invitations, filtered by `status`; a pending invitation past its "
        "expiry reads `expired`."
    ),
    "invitation.resend": (
        "Mails a new link for a pending invitation (the old link stops working, the expiry "
        "restarts). Any other status is a 400."
    ),
    "invitation.revoke": "Revokes a pending invitation; its link stops working. Otherwise a 400.",
    "webhook.list": "The organization's webhook endpoints (never their secrets), paginated.",
    "webhook.update": (
        "Replaces an endpoint's URL, event types, description and state; a URL that is not "
        "public is a 400. Turning it back on resets its failure count."
    ),
    "webhook.partial_update": (
        "Changes an endpoint's fields sent; a URL that is not public is a 400. Setting "
        "`is_active: true` resets its failure count."
    ),
    "webhook-delivery.list": "The organization's webhook deliveries, paginated.",
    # Reports.
    "report.funnel": (
        "Per pipeline and stage, the deals that entered the stage in the period and the ratio "
        "to the previous stage. JSON, or CSV with `?format=csv`."
    ),
    "report.time_in_stage": (
        "Per stage, for deals now open and now closed: count, average, median and 90th "
        "percentile of days spent in it. JSON, or CSV with `?format=csv`."
    ),
    "report.win_rate": (
        "Won divided by closed, over deals closed in the period: total, by month or quarter, "
        "by owner and by source. JSON, or CSV with `?format=csv`."
    ),
    "report.velocity": (
        "Open deals × win rate × average won value ÷ average sales cycle: the value won per "
        "day (null without wins). JSON, or CSV with `?format=csv`."
    ),
    "report.forecast": (
        "Open value by expected close month, weighted by the stage's probability and "
        "unweighted, with the value won to date. JSON, or CSV with `?format=csv`."
    ),
    "report.lead_sources": (
        "Leads created in the period per source, their conversions and conversion rate. JSON, "
        "or CSV with `?format=csv`."
    ),
}

#: Descriptions of API views outside the viewsets, by view class name, where the class's own
#: docstring does not say enough.
VIEW_DESCRIPTIONS: dict[str, str] = {
    "LoginView": (
        "Exchanges `email` and `password` for the user and a token pair (`tokens.access`, "
        "`tokens.refresh`). Send `Authorization: Bearer <access>` on every other call. Wrong "
        "credentials are a 401; repeated failures lock the account for this address (429 with "
        "`Retry-After`)."
    ),
    "RefreshView": (
        "Exchanges a refresh token for a new pair and spends the old one. Presenting a spent "
        "refresh token again revokes its whole session (401)."
    ),
    "LogoutView": (
        "Ends the session of `refresh_token`: its access and refresh tokens answer 401 at once."
    ),
    "ChangePasswordView": (
        "Changes your password (`old_password`, `new_password`, `new_password_confirm`) and "
        "ends every other session; answers a fresh token pair. A wrong old password or a weak "
        "new one is a 400."
    ),
}
