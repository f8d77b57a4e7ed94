"""Email verification and password reset by emailed, single-use, expiring tokens."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from crmApp.models import EmailVerificationToken, PasswordResetToken, User, UserSession
from crmApp.services.accounts import INVALID_LINK, token_digest
from crmApp.services.mail import email_render
from crmApp.throttling import AuthRateThrottle, PasswordResetEmailThrottle
from tests.conftest import authenticated_client, token_from
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.world import database_snapshot

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Another-Sturdy-9!"
RESET_ANSWER = {"message": "If the address has an account, a link has been sent."}


def register(client, capture, email="ada@example.com"):
    with capture(execute=True):
        return client.post(
            "/api/users/",
            {
                "email": email,
                "username": "ada",
                "password": DEFAULT_PASSWORD,
                "password_confirm": DEFAULT_PASSWORD,
            },
            format="json",
        )


def reset_request(client, capture, email, address="10.0.0.1"):
    with capture(execute=True):
        return client.post(
            "/api/auth/password-reset/", {"email": email}, format="json", REMOTE_ADDR=address
        )


# --- verification ---------------------------------------------------------------------------


def test_registration_mails_a_link_that_verifies_the_address_once(
    api_client, django_capture_on_commit_callbacks, settings
):
    settings.FRONTEND_URL = "https://app.example"

    registered = register(api_client, django_capture_on_commit_callbacks)

    assert registered.status_code == 201
    assert registered.data["email_verified_at"] is None
    assert [message.to for message in mail.outbox] == [["ada@example.com"]]
    assert mail.outbox[0].subject == "Confirm your email address"
    assert "https://app.example/verify-email?token=" in mail.outbox[0].body
    token = token_from(mail.outbox[0])
    stored = EmailVerificationToken.objects.get()
    assert stored.token == token_digest(token) != token

    verified = api_client.post("/api/auth/verify-email/", {"token": token}, format="json")
    again = api_client.post("/api/auth/verify-email/", {"token": token}, format="json")

    assert verified.status_code == 200
    user = User.objects.get(email="ada@example.com")
    assert user.email_verified_at is not None and user.is_verified is True
    assert again.status_code == 400
    assert again.data["details"] == {"token": [INVALID_LINK]}


def test_an_expired_verification_link_is_refused(api_client, django_capture_on_commit_callbacks):
    register(api_client, django_capture_on_commit_callbacks)
    EmailVerificationToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = database_snapshot()

    response = api_client.post(
        "/api/auth/verify-email/", {"token": token_from(mail.outbox[0])}, format="json"
    )

    assert response.status_code == 400
    assert response.data["details"] == {"token": [INVALID_LINK]}
    assert database_snapshot() == before


def test_an_unverified_account_logs_in_and_creates_its_own_organization(
    api_client, django_capture_on_commit_callbacks
):
    register(api_client, django_capture_on_commit_callbacks)
    login = api_client.post(
        "/api/auth/login/",
        {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
        format="json",
    )
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.data['tokens']['access']}")

    created = api_client.post("/api/organizations/", {"name": "Ada Labs"}, format="json")

    assert login.status_code == 200
    assert created.status_code == 201


def test_resend_always_answers_202_mails_only_the_unverified_and_is_throttled(
    django_capture_on_commit_callbacks, monkeypatch
):
    rates = {**AuthRateThrottle.THROTTLE_RATES, "verify_email_resend": "2/hour"}
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)
    unverified = UserFactory(email_verified_at=None, is_verified=False)
    verified = UserFactory()
    unverified_client, _a, _r = authenticated_client(unverified)
    verified_client, _a, _r = authenticated_client(verified)

    answers = []
    for client in (unverified_client, verified_client):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(client.post("/api/auth/verify-email/resend/"))
    third = unverified_client.post("/api/auth/verify-email/resend/")
    fourth = unverified_client.post("/api/auth/verify-email/resend/")

    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].data == answers[1].data
    assert [message.to for message in mail.outbox] == [[unverified.email]]
    assert (third.status_code, fourth.status_code) == (202, 429)


# --- password reset -------------------------------------------------------------------------


def test_reset_for_an_unknown_address_answers_like_a_known_one_and_sends_nothing(
    api_client, django_capture_on_commit_callbacks
):
    known = UserFactory(email="ada@example.com")

    unknown_answer = reset_request(api_client, django_capture_on_commit_callbacks, "no@example.com")
    sent_for_unknown = len(mail.outbox)
    known_answer = reset_request(api_client, django_capture_on_commit_callbacks, "ADA@example.com")

    assert (unknown_answer.status_code, known_answer.status_code) == (202, 202)
    assert unknown_answer.data == known_answer.data == RESET_ANSWER
    assert unknown_answer.content == known_answer.content
    assert sent_for_unknown == 0
    assert [message.to for message in mail.outbox] == [[known.email]]
    assert mail.outbox[0].subject == "Reset your password"


def test_reset_confirm_sets_the_password_and_ends_every_session(
    api_client, django_capture_on_commit_callbacks
):
    user = UserFactory(email="ada@example.com")
    first, first_access, _ = authenticated_client(user)
    second, _, second_refresh = authenticated_client(user)
    reset_request(api_client, django_capture_on_commit_callbacks, "ada@example.com")
    token = token_from(mail.outbox[0])

    confirmed = api_client.post(
        "/api/auth/password-reset/confirm/",
        {"token": token, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        format="json",
    )
    reused = api_client.post(
        "/api/auth/password-reset/confirm/",
        {"token": token, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        format="json",
    )

    assert confirmed.status_code == 200
    assert first.get("/api/users/me/").status_code == 401
    assert second.get("/api/users/me/").status_code == 401
    refresh = api_client.post("/api/auth/refresh/", {"refresh": second_refresh}, format="json")
    assert refresh.status_code == 401
    assert UserSession.objects.filter(user=user, is_revoked=False).count() == 0
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(DEFAULT_PASSWORD)
    assert reused.status_code == 400
    assert reused.data["details"] == {"token": [INVALID_LINK]}


def test_a_weak_new_password_is_refused_and_keeps_the_token(
    api_client, django_capture_on_commit_callbacks
):
    UserFactory(email="ada@example.com")
    reset_request(api_client, django_capture_on_commit_callbacks, "ada@example.com")
    token = token_from(mail.outbox[0])
    before = database_snapshot()

    weak = api_client.post(
        "/api/auth/password-reset/confirm/",
        {"token": token, "new_password": "123", "new_password_confirm": "123"},
        format="json",
    )

    assert weak.status_code == 400
    assert "new_password" in weak.data["details"]
    assert database_snapshot() == before


def test_an_expired_reset_link_is_refused(api_client, django_capture_on_commit_callbacks):
    user = UserFactory(email="ada@example.com")
    reset_request(api_client, django_capture_on_commit_callbacks, "ada@example.com")
    PasswordResetToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    before = database_snapshot()

    response = api_client.post(
        "/api/auth/password-reset/confirm/",
        {
            "token": token_from(mail.outbox[0]),
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.data["details"] == {"token": [INVALID_LINK]}
    assert database_snapshot() == before
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_reset_requests_are_throttled_per_email_across_addresses(
    api_client, django_capture_on_commit_callbacks, monkeypatch
):
    rates = {**AuthRateThrottle.THROTTLE_RATES, "password_reset_email": "2/hour"}
    monkeypatch.setattr(PasswordResetEmailThrottle, "THROTTLE_RATES", rates)
    capture = django_capture_on_commit_callbacks
    codes = [
        reset_request(api_client, capture, "nobody@example.com", address=f"10.0.0.{n}").status_code
        for n in range(1, 4)
    ]
    other = reset_request(api_client, capture, "other@example.com", address="10.0.0.9")

    assert codes == [202, 202, 429]
    assert other.status_code == 202


def test_reset_requests_are_throttled_per_client_address(
    api_client, django_capture_on_commit_callbacks, monkeypatch
):
    rates = {**AuthRateThrottle.THROTTLE_RATES, "password_reset": "2/hour"}
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", rates)
    capture = django_capture_on_commit_callbacks
    codes = [
        reset_request(api_client, capture, f"n{n}@example.com", address="10.0.0.1").status_code
        for n in range(3)
    ]

    assert codes == [202, 202, 429]


# --- templates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "subject", "extra"),
    [
        ("verify_email", "Confirm your email address", {"hours": 48}),
        ("password_reset", "Reset your password", {"minutes": 60}),
    ],
)
def test_account_email_templates_render_text_and_escaped_html(template, subject, extra):
    user = User(email="ada@example.com", username="a<b>", first_name="")
    link = "https://app.example/x?token=abc"

    rendered_subject, text, html = email_render(
        template=template, context={"user": user, "link": link, **extra}
    )

    assert rendered_subject == subject
    assert "Hello a<b>," in text and link in text
    assert "Hello a&lt;b&gt;," in html and f'href="{link}"' in html
