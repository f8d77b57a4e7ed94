"""Registration, login, refresh rotation, logout and password change, with real revocation."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from crmApp.models import User, UserSession
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login/"
REFRESH = "/api/auth/refresh/"
LOGOUT = "/api/auth/logout/"
CHANGE = "/api/auth/change-password/"
ME = "/api/users/me/"
INVALID = "Unable to log in with provided credentials."


def login(client: APIClient, email: str, password: str = DEFAULT_PASSWORD):
    return client.post(LOGIN, {"email": email, "password": password})


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_registration_creates_user_without_organization(api_client):
    response = api_client.post(
        "/api/users/",
        {
            "email": "Ada@Example.COM",
            "username": "ada",
            "password": DEFAULT_PASSWORD,
            "password_confirm": DEFAULT_PASSWORD,
            "phone": "+1 555 0100",
        },
    )
    assert response.status_code == 201, response.data
    assert response.data["email"] == "Ada@example.com"
    assert response.data["username"] == "ada"
    assert response.data["phone"] == "+1 555 0100"
    assert response.data["full_name"] == "ada"
    assert "password" not in response.data
    user = User.objects.get(pk=response.data["id"])
    assert user.check_password(DEFAULT_PASSWORD)
    assert user.user_organizations.count() == 0


def test_registration_without_a_username_derives_a_free_one_from_the_email(api_client):
    UserFactory(email="taken@example.org", username="grace")
    UserFactory(email="taken2@example.org", username="grace-2")

    def register(email: str):
        return api_client.post(
            "/api/users/",
            {"email": email, "password": DEFAULT_PASSWORD, "password_confirm": DEFAULT_PASSWORD},
        )

    first = register("grace.hopper@example.com")
    second = register("grace@example.com")
    odd = register("o'brien!@example.com")

    assert [r.status_code for r in (first, second, odd)] == [201, 201, 201]
    assert [r.data["username"] for r in (first, second, odd)] == [
        "grace.hopper",
        "grace-3",
        "obrien",
    ]
    login = api_client.post(
        "/api/auth/login/", {"email": "grace@example.com", "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 200


def test_registration_rejects_duplicate_email_in_any_case(api_client):
    UserFactory(email="bob@example.com", username="bob")
    response = api_client.post(
        "/api/users/",
        {
            "email": "BOB@example.com",
            "username": "bobby",
            "password": DEFAULT_PASSWORD,
            "password_confirm": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert response.data["error"] == "An error occurred"
    assert response.data["status_code"] == 400
    assert response.data["details"]["email"] == ["User with this email already exists."]
    assert User.objects.filter(email__iexact="bob@example.com").count() == 1


def test_registration_checks_confirmation_and_password_rules(api_client):
    mismatch = api_client.post(
        "/api/users/",
        {
            "email": "c@example.com",
            "username": "c",
            "password": DEFAULT_PASSWORD,
            "password_confirm": "other-Passw0rd!",
        },
    )
    assert mismatch.status_code == 400
    assert mismatch.data["details"]["password"] == ["Password fields didn't match."]
    weak = api_client.post(
        "/api/users/",
        {
            "email": "c@example.com",
            "username": "c",
            "password": "12345678",
            "password_confirm": "12345678",
        },
    )
    assert weak.status_code == 400
    assert "This password is entirely numeric." in weak.data["details"]["password"]
    assert not User.objects.filter(email="c@example.com").exists()


def test_login_returns_user_and_tokens_and_records_session(api_client):
    user = UserFactory(email="dana@example.com")
    response = login(api_client, "DANA@example.com")
    assert response.status_code == 200, response.data
    assert response.data["user"]["id"] == user.pk
    assert response.data["user"]["email"] == "dana@example.com"
    assert set(response.data["tokens"]) == {"access", "refresh"}
    access = AccessToken(response.data["tokens"]["access"])
    assert access["user_id"] == user.pk
    assert access["token_type"] == "access"
    session = UserSession.objects.get(user=user)
    assert access["sid"] == session.pk
    assert not session.is_revoked
    user.refresh_from_db()
    assert user.last_login_at is not None


@pytest.mark.parametrize(
    "email,password",
    [("dana@example.com", "wrong-password"), ("nobody@example.com", DEFAULT_PASSWORD)],
)
def test_login_failure_is_the_same_whether_or_not_the_email_exists(api_client, email, password):
    UserFactory(email="dana@example.com")
    response = login(api_client, email, password)
    assert response.status_code == 400
    assert response.data["details"] == {"non_field_errors": [INVALID]}


def test_inactive_user_cannot_log_in_and_loses_tokens(api_client, owner):
    User.objects.filter(pk=owner.user.pk).update(is_active=False)
    assert login(api_client, owner.user.email).data["details"] == {"non_field_errors": [INVALID]}
    response = owner.client.get(ME)
    assert response.status_code == 401
    assert response.data["status_code"] == 401


def test_failed_logins_are_throttled_per_account(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 3
    UserFactory(email="erin@example.com")
    for _ in range(3):
        assert login(api_client, "erin@example.com", "bad-password").status_code == 400
    blocked = login(api_client, "erin@example.com")  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert blocked.data["status_code"] == 429
    # an unknown account behaves the same way
    for _ in range(3):
        login(api_client, "ghost@example.com", "bad-password")
    assert login(api_client, "ghost@example.com", "bad-password").status_code == 429


def test_failed_logins_are_throttled_per_client_address(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 4
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 100
    UserFactory(email="fay@example.com")
    for n in range(4):
        login(api_client, f"guess{n}@example.com", "bad-password")
    response = login(api_client, "fay@example.com")
    assert response.status_code == 429
    assert "Retry-After" in response


def test_refresh_rotates_and_old_refresh_is_refused(api_client, owner):
    first = api_client.post(REFRESH, {"refresh": owner.refresh})
    assert first.status_code == 200, first.data
    assert set(first.data) == {"access", "refresh"}
    assert bearer(first.data["access"]).get(ME).status_code == 200
    second = api_client.post(REFRESH, {"refresh": first.data["refresh"]})
    assert second.status_code == 200
    replay = api_client.post(REFRESH, {"refresh": owner.refresh})
    assert replay.status_code == 401
    assert replay.data["status_code"] == 401


def test_a_reused_refresh_token_revokes_its_whole_session(api_client, owner):
    other = login(api_client, owner.user.email).data["tokens"]
    rotated = api_client.post(REFRESH, {"refresh": owner.refresh})  # the thief, say
    assert rotated.status_code == 200
    session = UserSession.objects.get(pk=AccessToken(owner.access)["sid"])
    jti_after_rotation = session.refresh_jti
    replay = api_client.post(REFRESH, {"refresh": owner.refresh})  # the victim, or the thief
    assert replay.status_code == 401
    assert replay.data["status_code"] == 401
    session.refresh_from_db()
    assert session.is_revoked
    assert session.refresh_jti == jti_after_rotation  # nothing new was minted
    current = bearer(rotated.data["access"]).get(ME)
    assert current.status_code == 401
    assert current.data["details"]["code"] == "token_revoked"
    assert api_client.post(REFRESH, {"refresh": rotated.data["refresh"]}).status_code == 401
    assert bearer(owner.access).get(ME).status_code == 401
    assert bearer(other["access"]).get(ME).status_code == 200  # other sessions live on


@pytest.mark.parametrize("token", ["garbage", ""])
def test_refresh_rejects_malformed_tokens(api_client, token):
    response = api_client.post(REFRESH, {"refresh": token})
    assert response.status_code in (400, 401)
    assert response.data["status_code"] == response.status_code


def test_access_token_cannot_be_used_to_refresh(api_client, owner):
    response = api_client.post(REFRESH, {"refresh": owner.access})
    assert response.status_code == 401


def test_logout_ends_access_and_refresh_tokens_at_once(owner, api_client):
    response = owner.client.post(LOGOUT, {"refresh_token": owner.refresh})
    assert response.status_code == 200
    assert response.data == {"message": "Successfully logged out."}
    after = owner.client.get(ME)
    assert after.status_code == 401
    assert after.data["details"]["code"] == "token_revoked"
    assert api_client.post(REFRESH, {"refresh": owner.refresh}).status_code == 401
    assert UserSession.objects.get(pk=AccessToken(owner.access)["sid"]).is_revoked


def test_logout_without_refresh_still_ends_the_presented_session(owner):
    assert owner.client.post(LOGOUT, {}).status_code == 200
    assert owner.client.get(ME).status_code == 401


def test_logout_leaves_other_sessions_alive(owner, api_client):
    other = login(api_client, owner.user.email).data["tokens"]
    owner.client.post(LOGOUT, {"refresh_token": owner.refresh})
    assert bearer(other["access"]).get(ME).status_code == 200


def test_change_password_ends_every_earlier_token(owner, api_client):
    other = login(api_client, owner.user.email).data["tokens"]
    response = owner.client.post(
        CHANGE,
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password": "Another-Str0ng-pass",
            "new_password_confirm": "Another-Str0ng-pass",
        },
    )
    assert response.status_code == 200, response.data
    assert response.data["message"] == "Password changed successfully."
    assert owner.client.get(ME).status_code == 401
    assert bearer(other["access"]).get(ME).status_code == 401
    assert api_client.post(REFRESH, {"refresh": other["refresh"]}).status_code == 401
    assert bearer(response.data["tokens"]["access"]).get(ME).status_code == 200
    assert login(api_client, owner.user.email, "Another-Str0ng-pass").status_code == 200
    owner.user.refresh_from_db()
    assert owner.user.password_changed_at is not None


def test_change_password_validation_messages(owner):
    wrong_old = owner.client.post(
        CHANGE,
        {
            "old_password": "nope",
            "new_password": "Another-Str0ng-pass",
            "new_password_confirm": "Another-Str0ng-pass",
        },
    )
    assert wrong_old.status_code == 400
    assert wrong_old.data["details"]["old_password"] == ["Old password is incorrect."]
    mismatch = owner.client.post(
        CHANGE,
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password": "Another-Str0ng-pass",
            "new_password_confirm": "x-Another-Str0ng",
        },
    )
    assert mismatch.status_code == 400
    assert mismatch.data["details"]["new_password"] == ["Password fields didn't match."]
    owner.user.refresh_from_db()
    assert owner.user.check_password(DEFAULT_PASSWORD)
    assert owner.client.get(ME).status_code == 200


def _forge(payload: dict, key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def test_tokens_signed_with_another_key_alg_none_or_expired_are_refused(owner):
    claims = dict(AccessToken(owner.access).payload)
    forged = _forge(claims, "not-the-signing-key-" + "x" * 40)
    unsigned = jwt.encode(claims, None, algorithm="none")
    expired_claims = {**claims, "exp": int((timezone.now() - timedelta(minutes=1)).timestamp())}
    expired = _forge(expired_claims, settings.SIMPLE_JWT["SIGNING_KEY"])
    for token in (forged, unsigned, expired):
        response = bearer(token).get(ME)
        assert response.status_code == 401, token
        assert response.data["error"] == "Given token not valid for any token type"
        assert response.data["details"]["code"] == "token_not_valid"
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_refresh_token_is_not_an_access_token(owner):
    assert bearer(owner.refresh).get(ME).status_code == 401


def test_missing_credentials_envelope(api_client):
    response = api_client.get(ME)
    assert response.status_code == 401
    assert response.data == {
        "error": "Authentication credentials were not provided.",
        "details": {"detail": "Authentication credentials were not provided."},
        "status_code": 401,
    }


def test_me_can_be_patched(owner):
    response = owner.client.patch(ME, {"username": "renamed", "phone": "123"})
    assert response.status_code == 200
    assert response.data["username"] == "renamed"
    owner.user.refresh_from_db()
    assert (owner.user.username, owner.user.phone) == ("renamed", "123")
    profile = owner.client.put("/api/users/update_profile/", {"phone": "456"})
    assert profile.status_code == 200
    assert profile.data["phone"] == "456"


def test_sessions_are_listed_without_token_and_can_be_revoked(owner):
    listing = owner.client.get("/api/auth/refresh-tokens/")
    assert listing.status_code == 200
    row = listing.data["results"][0]
    assert "token" not in row and "refresh_jti" not in row
    revoke = owner.client.post(f"/api/auth/refresh-tokens/{row['id']}/revoke/")
    assert revoke.status_code == 200
    assert revoke.data == {"message": "Token revoked successfully."}
    assert owner.client.get(ME).status_code == 401


def test_sessions_cannot_be_created_or_edited(owner):
    assert (
        owner.client.post("/api/auth/refresh-tokens/", {"user": owner.user.pk}).status_code == 405
    )
    session_id = UserSession.objects.filter(user=owner.user).first().pk
    patch = owner.client.patch(f"/api/auth/refresh-tokens/{session_id}/", {"is_revoked": False})
    assert patch.status_code == 405


def test_other_users_sessions_are_not_found(owner, other_owner):
    foreign = UserSession.objects.filter(user=other_owner.user).first()
    assert owner.client.get(f"/api/auth/refresh-tokens/{foreign.pk}/").status_code == 404
    assert owner.client.post(f"/api/auth/refresh-tokens/{foreign.pk}/revoke/").status_code == 404
    foreign.refresh_from_db()
    assert not foreign.is_revoked
