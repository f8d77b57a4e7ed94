import pytest

pytestmark = pytest.mark.django_db


def test_health_needs_no_auth_and_reports_checks(api_client):
    response = api_client.get("/api/health/")
    assert response.status_code == 200
    assert response.data == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "skipped", "broker": "skipped"},
    }


def test_health_is_503_when_the_database_fails(api_client, monkeypatch):
    from crmApp.viewsets import health

    monkeypatch.setattr(health, "_check_database", lambda: "error: OperationalError")
    response = api_client.get("/api/health/")
    assert response.status_code == 503
    assert response.data["checks"]["database"] == "error: OperationalError"


def test_request_id_is_echoed_or_generated(api_client):
    echoed = api_client.get("/api/health/", HTTP_X_REQUEST_ID="abc-123")
    assert echoed["X-Request-ID"] == "abc-123"
    generated = api_client.get("/api/health/", HTTP_X_REQUEST_ID="bad id with spaces")
    assert generated["X-Request-ID"] != "bad id with spaces"
    assert len(generated["X-Request-ID"]) == 32


def test_one_log_line_per_request_with_user_and_organization(owner, caplog):
    with caplog.at_level("INFO", logger="crmApp.requests"):
        owner.client.get("/api/users/me/", HTTP_X_ORGANIZATION_ID=str(owner.organization.pk))
    records = [r for r in caplog.records if r.name == "crmApp.requests"]
    assert len(records) == 1
    record = records[0]
    assert (record.method, record.path, record.status) == ("GET", "/api/users/me/", 200)
    assert record.user_id == owner.user.pk
    assert record.organization_id == str(owner.organization.pk)
    assert record.duration_ms >= 0
