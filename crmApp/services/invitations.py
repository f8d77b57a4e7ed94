"""Invitations: joining an organization by proving the invited address.

Adding someone by email creates an invitation, never a membership: the answer is the same
whether or not an account uses that address, and the membership appears only when the owner of
the address accepts with the emailed token (logged in to a verified account with that address,
or registering through the invitation). Tokens are minted by the email task, stored hashed and
spent on acceptance (see crmApp.services.accounts).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crmApp.errors import Forbidden, InvalidInput
from crmApp.identity import identity_key
from crmApp.models import Invitation, Organization, Role, User, UserOrganization, UserRole
from crmApp.permissions.access import Access
from crmApp.selectors.users import email_taken
from crmApp.services.accounts import (
    email_task_queue,
    frontend_link,
    token_digest,
    token_mint,
)
from crmApp.services.audit import audit_record, audit_values
from crmApp.services.events import event_record_for
from crmApp.services.mail import email_send
from crmApp.services.organizations import membership_add
from crmApp.services.rbac import role_grant_check

INVALID_INVITATION = "This invitation is invalid, expired or already used."
VERIFY_FIRST = "Verify your email address before accepting an invitation."
OTHER_ADDRESS = "This invitation was sent to another email address."
ACCOUNT_EXISTS = "An account already uses this email address; log in to accept the invitation."
NOT_PENDING = "Only a pending invitation can be {verb}."
ROLE_NOT_FOUND = 'Invalid pk "{pk}" - object does not exist.'


def _expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


def _check_role(*, role: Role | None, organization_id: int, access: Access | None) -> None:
    if role is None:
        return
    if role.organization_id != organization_id or not role.is_active:
        raise InvalidInput({"role_id": [ROLE_NOT_FOUND.format(pk=role.pk)]})
    role_grant_check(access=access, role=role)


@transaction.atomic
def invitation_create(
    *,
    organization_id: int,
    actor: User,
    access: Access | None,
    email: str,
    role: Role | None = None,
) -> Invitation:
    """Invite `email` to the organization with `role` (optional; the inviter must hold every
    permission it carries). A pending invitation of the same address is renewed instead: new
    role, new expiry, and its earlier link stops working.

    Nothing here looks at accounts: whether the address has one must not change the answer.
    """
    Organization.objects.select_for_update().get(pk=organization_id)
    _check_role(role=role, organization_id=organization_id, access=access)
    invitation = (
        Invitation.objects.select_for_update()
        .filter(
            organization_id=organization_id,
            email_key=identity_key(email),
            status=Invitation.Status.PENDING,
        )
        .first()
    )
    if invitation is None:
        invitation = Invitation.objects.create(
            organization_id=organization_id,
            email=email,
            role=role,
            invited_by=actor,
            expires_at=_expiry(),
        )
    else:
        invitation.email = email
        invitation.role = role
        invitation.invited_by = actor
        invitation.expires_at = _expiry()
        invitation.token_hash = None
        invitation.save()
    event_record_for(invitation, "member.invited", actor=actor)
    email_task_queue("invitation", invitation.pk)
    return invitation


def _locked(invitation: Invitation) -> Invitation:
    return Invitation.objects.select_for_update().get(pk=invitation.pk)


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User) -> Invitation:
    """Mail a new link (the earlier one stops working) and restart the expiry."""
    invitation = _locked(invitation)
    if invitation.status != Invitation.Status.PENDING:
        raise InvalidInput({"non_field_errors": [NOT_PENDING.format(verb="sent again")]})
    before = audit_values(invitation)
    invitation.expires_at = _expiry()
    invitation.token_hash = None
    invitation.save(update_fields=["expires_at", "token_hash", "updated_at"])
    audit_record(invitation, "resent", actor=actor, before=before)
    email_task_queue("invitation", invitation.pk)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    """Withdraw a pending invitation; its link is refused from now on."""
    invitation = _locked(invitation)
    if invitation.status != Invitation.Status.PENDING:
        raise InvalidInput({"non_field_errors": [NOT_PENDING.format(verb="revoked")]})
    before = audit_values(invitation)
    invitation.status = Invitation.Status.REVOKED
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["status", "revoked_at", "updated_at"])
    audit_record(invitation, "revoked", actor=actor, before=before)
    return invitation


@transaction.atomic
def invitation_email_send(*, invitation_id: int) -> None:
    """The email task's body: mint the invitation's token and mail its link.

    A revoked, accepted or expired invitation sends nothing.
    """
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("organization", "role", "invited_by")
        .filter(
            pk=invitation_id,
            status=Invitation.Status.PENDING,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    if invitation is None:
        return
    raw, digest = token_mint()
    invitation.token_hash = digest
    invitation.save(update_fields=["token_hash", "updated_at"])
    email_send(
        to=[invitation.email],
        template="invitation",
        context={
            "invitation": invitation,
            "organization": invitation.organization,
            "inviter": invitation.invited_by,
            "role": invitation.role,
            "link": frontend_link(path=settings.FRONTEND_INVITATION_PATH, token=raw),
        },
    )


def _take(raw_token: str) -> Invitation:
    """The pending, unexpired invitation of a token, locked; any other is the same refusal."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("role")
        .filter(token_hash=token_digest(raw_token))
        .first()
    )
    if (
        invitation is None
        or invitation.status != Invitation.Status.PENDING
        or invitation.expires_at <= timezone.now()
    ):
        raise InvalidInput({"token": [INVALID_INVITATION]})
    return invitation


def _join(invitation: Invitation, user: User) -> UserOrganization:
    """Make `user` a member (never an owner) with the invitation's role; spend the invitation."""
    membership = membership_add(
        organization_id=invitation.organization_id, actor=user, user=user, is_owner=False
    )
    now = timezone.now()
    membership.invited_by_id = invitation.invited_by_id
    membership.invitation_accepted_at = now
    membership.save(update_fields=["invited_by", "invitation_accepted_at", "updated_at"])
    role = invitation.role
    if role is not None and role.is_active and role.organization_id == invitation.organization_id:
        # Checked against the inviter's rights when the invitation was made.
        UserRole.objects.get_or_create(
            user=user,
            organization_id=invitation.organization_id,
            role=role,
            defaults={"assigned_by_id": invitation.invited_by_id},
        )
    invitation.status = Invitation.Status.ACCEPTED
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["status", "accepted_at", "accepted_by", "updated_at"])
    return membership


@transaction.atomic
def invitation_accept(*, raw_token: str, user: User) -> UserOrganization:
    """A logged-in, verified account whose address is the invited one joins."""
    invitation = _take(raw_token)
    if user.email_verified_at is None:
        raise Forbidden(VERIFY_FIRST)
    if identity_key(user.email) != invitation.email_key:
        raise Forbidden(OTHER_ADDRESS)
    return _join(invitation, user)


@transaction.atomic
def invitation_accept_register(
    *, raw_token: str, username: str, password: str, **profile
) -> tuple[User, UserOrganization]:
    """Create the invited address's account and join: the emailed token proves the address,
    so the account starts verified."""
    invitation = _take(raw_token)
    if email_taken(email=invitation.email):
        raise InvalidInput({"token": [ACCOUNT_EXISTS]})
    now = timezone.now()
    user = User.objects.create_user(
        email=invitation.email,
        username=username,
        password=password,
        email_verified_at=now,
        is_verified=True,
        **profile,
    )
    return user, _join(invitation, user)


@transaction.atomic
def member_role_grant(
    *, membership: UserOrganization, role: Role, actor: User, access: Access | None
) -> None:
    """Give a member just added by id the role chosen for them, under the assignment rule."""
    _check_role(role=role, organization_id=membership.organization_id, access=access)
    UserRole.objects.get_or_create(
        user_id=membership.user_id,
        organization_id=membership.organization_id,
        role=role,
        defaults={"assigned_by": actor},
    )
