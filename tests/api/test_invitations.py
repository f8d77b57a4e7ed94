"""Invitations replace pulling accounts into an organization.

Adding by email only invites (the same answer whether or not an account uses the address);
the membership appears when the verified owner of the address accepts with the emailed token.
Adding by id works only for verified colleagues; any other id reads like a missing one.
"""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from crmApp.models import Invitation, Permission, Role, RolePermission, UserOrganization, UserRole
from crmApp.serializers.organizations import OWNERSHIP_ON_ADD
from crmApp.services.invitations import INVALID_INVITATION, OTHER_ADDRESS, VERIFY_FIRST
from crmApp.services.mail import email_render
from tests.conftest import authenticated_client, make_colleague, make_member, token_from
from tests.events_support import free_port
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.world import database_snapshot

pytestmark = pytest.mark.django_db

ACCEPT = "/api/invitations/accept/"
INVITATION_KEYS = [
    "id",
    "organization",
    "email",
    "role",
    "role_name",
    "status",
    "expires_at",
    "accepted_at",
    "revoked_at",
    "created_at",
]


def add_member(member, body):
    return member.client.post(
        f"/api/organizations/{member.organization.pk}/add_member/", body, format="json"
    )


def invite(member, capture, email, **extra):
    """Invite `email` as `member`, running the email task; (answer, the mailed token)."""
    sent = len(mail.outbox)
    with capture(execute=True):
        response = add_member(member, {"email": email, **extra})
    assert response.status_code == 201, response.data
    assert len(mail.outbox) == sent + 1
    return response, token_from(mail.outbox[-1])


def accept(client, token, capture, **fields):
    with capture(execute=True):
        return client.post(ACCEPT, {"token": token, **fields}, format="json")


def _shape(data: dict) -> dict:
    return {key: value for key, value in data.items() if key not in ("id", "email")}


# --- the attacks ----------------------------------------------------------------------------


def test_adding_an_account_by_email_only_invites_and_answers_like_an_unknown_address(
    owner, django_capture_on_commit_callbacks
):
    victim = UserFactory(email="victim@example.com", first_name="Victoria")

    known, _ = invite(owner, django_capture_on_commit_callbacks, "victim@example.com")
    unknown, _ = invite(owner, django_capture_on_commit_callbacks, "nobody@example.com")

    assert known.status_code == unknown.status_code == 201
    assert list(known.data) == list(unknown.data) == INVITATION_KEYS
    assert _shape(known.data) | {"created_at": None, "expires_at": None} == _shape(unknown.data) | {
        "created_at": None,
        "expires_at": None,
    }
    assert (known.data["email"], known.data["status"]) == ("victim@example.com", "pending")
    assert not UserOrganization.objects.filter(user=victim).exists()
    assert Invitation.objects.filter(organization=owner.organization).count() == 2


def test_the_invitation_answer_never_carries_the_invitees_profile(owner):
    victim = UserFactory(email="victim@example.com", first_name="Victoria", phone="555-0100")

    response = add_member(owner, {"email": "victim@example.com"})

    assert response.status_code == 201
    assert list(response.data) == INVITATION_KEYS
    for secret in (victim.username, "Victoria", "555-0100", f'"user": {victim.pk}'):
        assert secret not in response.content.decode()


def test_a_strangers_sequential_id_reads_like_a_missing_id_and_adds_nobody(owner):
    stranger = UserFactory()
    before = database_snapshot()

    found = add_member(owner, {"user_id": stranger.pk})
    missing = add_member(owner, {"user_id": stranger.pk + 1000})

    assert (found.status_code, missing.status_code) == (400, 400)
    assert found.data["details"] == {
        "user_id": [f'Invalid pk "{stranger.pk}" - object does not exist.']
    }
    assert missing.data["details"] == {
        "user_id": [f'Invalid pk "{stranger.pk + 1000}" - object does not exist.']
    }
    assert database_snapshot() == before


def test_an_unverified_colleague_cannot_be_added_by_id(owner):
    colleague = make_colleague(owner, email_verified_at=None, is_verified=False)
    before = database_snapshot()

    response = add_member(owner, {"user_id": colleague.pk})

    assert response.status_code == 400
    assert response.data["details"] == {
        "user_id": [f'Invalid pk "{colleague.pk}" - object does not exist.']
    }
    assert database_snapshot() == before


def test_a_verified_colleague_is_added_by_id_with_a_role(owner):
    colleague = make_colleague(owner)
    sales = Role.objects.get(organization=owner.organization, slug="sales")

    response = add_member(owner, {"user_id": colleague.pk, "role_id": sales.pk})

    assert response.status_code == 201, response.data
    assert response.data["user_id"] == colleague.pk
    assert UserRole.objects.filter(user=colleague, role=sales).count() == 1


@pytest.mark.parametrize("body", [{"email": "x@example.com"}, {"user_id": 1}])
def test_nobody_becomes_an_owner_through_an_add(owner, body):
    before = database_snapshot()

    response = add_member(owner, {**body, "is_owner": True})

    assert response.status_code == 400
    assert response.data["details"] == {"is_owner": [OWNERSHIP_ON_ADD]}
    assert database_snapshot() == before


def test_a_role_the_inviter_does_not_fully_hold_is_refused(org, owner):
    manage_members = Role.objects.create(organization=org, name="Members", slug="members")
    RolePermission.objects.create(
        role=manage_members,
        permission=Permission.objects.get(
            organization=org, resource="organizations", action="manage"
        ),
    )
    inviter = make_member(org)
    UserRole.objects.create(user=inviter.user, organization=org, role=manage_members)
    admin_role = Role.objects.get(organization=org, slug="admin")
    before = database_snapshot()

    response = add_member(inviter, {"email": "x@example.com", "role_id": admin_role.pk})

    assert response.status_code == 403
    assert database_snapshot() == before


# --- accepting ------------------------------------------------------------------------------


def test_the_invitee_accepts_once_and_joins_with_the_role_never_as_owner(
    owner, django_capture_on_commit_callbacks
):
    invitee = UserFactory(email="Ada@Example.com")
    viewer = Role.objects.get(organization=owner.organization, slug="viewer")
    response, token = invite(
        owner, django_capture_on_commit_callbacks, "ada@example.com", role_id=viewer.pk
    )
    client, _access, _refresh = authenticated_client(invitee)

    accepted = accept(client, token, django_capture_on_commit_callbacks)
    again = accept(client, token, django_capture_on_commit_callbacks)

    assert accepted.status_code == 200, accepted.data
    assert accepted.data == {
        "message": "Invitation accepted.",
        "organization_id": owner.organization.pk,
    }
    joined = UserOrganization.objects.get(user=invitee, organization=owner.organization)
    assert (joined.is_active, joined.is_owner, joined.invited_by_id) == (True, False, owner.user.pk)
    assert list(UserRole.objects.filter(user=invitee).values_list("role_id", flat=True)) == [
        viewer.pk
    ]
    invitation = Invitation.objects.get(pk=response.data["id"])
    assert (invitation.status, invitation.accepted_by_id) == ("accepted", invitee.pk)
    assert again.status_code == 400
    assert again.data["details"] == {"token": [INVALID_INVITATION]}


def test_an_unverified_account_cannot_accept(owner, django_capture_on_commit_callbacks):
    invitee = UserFactory(email="ada@example.com", email_verified_at=None, is_verified=False)
    _response, token = invite(owner, django_capture_on_commit_callbacks, "ada@example.com")
    client, _access, _refresh = authenticated_client(invitee)
    before = database_snapshot()

    response = accept(client, token, django_capture_on_commit_callbacks)

    assert response.status_code == 403
    assert response.data["error"] == VERIFY_FIRST
    assert database_snapshot() == before


def test_a_token_for_another_address_cannot_be_accepted_by_another_account(
    owner, django_capture_on_commit_callbacks
):
    UserFactory(email="ada@example.com")
    attacker = UserFactory(email="mallory@example.com")
    _response, token = invite(owner, django_capture_on_commit_callbacks, "ada@example.com")
    client, _access, _refresh = authenticated_client(attacker)
    before = database_snapshot()

    response = accept(client, token, django_capture_on_commit_callbacks)

    assert response.status_code == 403
    assert response.data["error"] == OTHER_ADDRESS
    assert database_snapshot() == before


@pytest.mark.parametrize("spoil", ["expired", "revoked", "unknown"])
def test_expired_revoked_and_unknown_tokens_are_refused(
    owner, spoil, django_capture_on_commit_callbacks
):
    invitee = UserFactory(email="ada@example.com")
    response, token = invite(owner, django_capture_on_commit_callbacks, "ada@example.com")
    invitation = Invitation.objects.get(pk=response.data["id"])
    if spoil == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    elif spoil == "revoked":
        revoked = owner.client.post(f"/api/invitations/{invitation.pk}/revoke/")
        assert (revoked.status_code, revoked.data["status"]) == (200, "revoked")
    else:
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    client, _access, _refresh = authenticated_client(invitee)
    before = database_snapshot()

    refused = accept(client, token, django_capture_on_commit_callbacks)

    assert refused.status_code == 400
    assert refused.data["details"] == {"token": [INVALID_INVITATION]}
    assert database_snapshot() == before


def test_an_invitee_without_an_account_registers_through_the_invitation(
    api_client, owner, django_capture_on_commit_callbacks
):
    _response, token = invite(owner, django_capture_on_commit_callbacks, "New.Person@example.com")

    response = accept(
        api_client,
        token,
        django_capture_on_commit_callbacks,
        username="newperson",
        password=DEFAULT_PASSWORD,
        password_confirm=DEFAULT_PASSWORD,
        first_name="New",
    )

    assert response.status_code == 201, response.data
    assert response.data["user"]["email"] == "New.Person@example.com"
    assert response.data["user"]["is_verified"] is True
    assert response.data["user"]["email_verified_at"] is not None
    user = UserOrganization.objects.get(organization=owner.organization, user__username="newperson")
    assert (user.is_active, user.is_owner) == (True, False)
    login = api_client.post(
        "/api/auth/login/",
        {"email": "new.person@example.com", "password": DEFAULT_PASSWORD},
        format="json",
    )
    assert login.status_code == 200


def test_registering_through_an_invitation_needs_the_registration_fields(
    api_client, owner, django_capture_on_commit_callbacks
):
    _response, token = invite(owner, django_capture_on_commit_callbacks, "ada@example.com")
    before = database_snapshot()

    response = accept(api_client, token, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert response.data["details"] == {
        "username": ["This field is required."],
        "password": ["This field is required."],
        "password_confirm": ["This field is required."],
    }
    assert database_snapshot() == before


# --- the invitations resource ---------------------------------------------------------------


def test_the_list_shows_each_status_and_resend_replaces_the_link(
    owner, django_capture_on_commit_callbacks
):
    first, old_token = invite(owner, django_capture_on_commit_callbacks, "a@example.com")
    second, _ = invite(owner, django_capture_on_commit_callbacks, "b@example.com")
    third, _ = invite(owner, django_capture_on_commit_callbacks, "c@example.com")
    owner.client.post(f"/api/invitations/{second.data['id']}/revoke/")
    Invitation.objects.filter(pk=third.data["id"]).update(
        expires_at=timezone.now() - timedelta(days=1)
    )

    listed = owner.client.get("/api/invitations/")
    with django_capture_on_commit_callbacks(execute=True):
        resent = owner.client.post(f"/api/invitations/{first.data['id']}/resend/")
    new_token = token_from(mail.outbox[-1])
    client, _access, _refresh = authenticated_client(UserFactory(email="a@example.com"))

    assert listed.status_code == 200
    assert [(row["email"], row["status"]) for row in listed.data["results"]] == [
        ("a@example.com", "pending"),
        ("b@example.com", "revoked"),
        ("c@example.com", "expired"),
    ]
    assert resent.status_code == 200 and resent.data["status"] == "pending"
    assert new_token != old_token
    refused = accept(client, old_token, django_capture_on_commit_callbacks)
    assert refused.status_code == 400
    assert accept(client, new_token, django_capture_on_commit_callbacks).status_code == 200


def test_a_revoked_invitation_cannot_be_resent_or_revoked_again(owner):
    created = add_member(owner, {"email": "a@example.com"})
    url = f"/api/invitations/{created.data['id']}/"
    owner.client.post(url + "revoke/")

    assert owner.client.post(url + "revoke/").status_code == 400
    assert owner.client.post(url + "resend/").status_code == 400


def test_inviting_a_pending_address_again_renews_the_one_invitation(owner):
    first = add_member(owner, {"email": "a@example.com"})
    second = add_member(owner, {"email": "A@example.com"})

    assert second.data["id"] == first.data["id"]
    assert Invitation.objects.filter(organization=owner.organization).count() == 1


# --- mail -----------------------------------------------------------------------------------


def test_the_invitation_email_renders_text_and_escaped_html(org, owner):
    org.name = "R&D <Lab>"
    invitation = Invitation(
        organization=org,
        email="ada@example.com",
        invited_by=owner.user,
        expires_at=timezone.now(),
    )
    subject, text, html = email_render(
        template="invitation",
        context={
            "invitation": invitation,
            "organization": org,
            "inviter": owner.user,
            "role": None,
            "link": "http://app.example/accept-invitation?token=abc",
        },
    )

    assert subject == "You are invited to join R&D <Lab>"
    assert "join R&D <Lab>" in text
    assert "http://app.example/accept-invitation?token=abc" in text
    assert "<strong>R&amp;D &lt;Lab&gt;</strong>" in html
    assert 'href="http://app.example/accept-invitation?token=abc"' in html


def test_the_invitation_reaches_a_real_smtp_server_and_its_link_works(
    owner, settings, django_capture_on_commit_callbacks
):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = False
        settings.FRONTEND_URL = "https://app.example"
        with django_capture_on_commit_callbacks(execute=True):
            response = add_member(owner, {"email": "ada@example.com"})
    finally:
        controller.stop()

    assert response.status_code == 201
    assert len(received) == 1
    message = received[0]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"You are invited to join {owner.organization.name}"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }
    prefix = "https://app.example/accept-invitation?token="
    assert prefix in parts["text/plain"] and prefix in parts["text/html"]
    token = parts["text/plain"].split(prefix, 1)[1].split()[0]
    invitee = UserFactory(email="ada@example.com")
    client, _access, _refresh = authenticated_client(invitee)
    assert accept(client, token, django_capture_on_commit_callbacks).status_code == 200
    assert UserOrganization.objects.filter(user=invitee, organization=owner.organization).exists()
