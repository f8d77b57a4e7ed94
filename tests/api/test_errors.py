"""Every error leaves in the one envelope, never as HTML."""

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_url_is_a_json_404(owner):
    response = owner.client.get("/api/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["status_code"] == 404


def test_post_without_trailing_slash_is_a_json_404_not_a_redirect(api_client):
    response = api_client.post("/api/auth/login", {"email": "a@b.c", "password": "x"})
    assert response.status_code == 404
    assert response.json()["error"] == "Not Found"


def test_malformed_json_is_a_400(owner):
    response = owner.client.post(
        "/api/users/me/", data="{not json", content_type="application/json"
    )
    assert response.status_code in (400, 405)
    response = owner.client.post(
        "/api/auth/logout/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.data["error"].startswith("JSON parse error")
    assert response.data["details"]["detail"].startswith("JSON parse error")


def test_method_not_allowed_envelope(owner):
    response = owner.client.delete("/api/users/me/")
    assert response.status_code == 405
    assert response.data == {
        "error": 'Method "DELETE" not allowed.',
        "details": {"detail": 'Method "DELETE" not allowed.'},
        "status_code": 405,
    }
