"""Users are visible only through a shared organization and never editable by others."""

import pytest

from crmApp.models import User
from tests.conftest import make_member

pytestmark = pytest.mark.django_db


def test_user_list_shows_self_and_members_of_readable_organizations(viewer, owner, other_owner):
    response = viewer.client.get("/api/users/")
    assert response.status_code == 200
    ids = {row["id"] for row in response.data["results"]}
    assert ids == {viewer.user.pk, owner.user.pk}
    assert other_owner.user.pk not in ids


def test_member_without_role_sees_only_themselves(no_role, owner):
    response = no_role.client.get("/api/users/")
    assert [row["id"] for row in response.data["results"]] == [no_role.user.pk]


def test_foreign_user_is_not_found(owner, other_owner):
    assert owner.client.get(f"/api/users/{other_owner.user.pk}/").status_code == 404
    response = owner.client.patch(f"/api/users/{other_owner.user.pk}/", {"username": "x"})
    assert response.status_code == 404
    assert response.data["error"] == "Not Found"
    assert owner.client.delete(f"/api/users/{other_owner.user.pk}/").status_code == 404
    assert User.objects.filter(pk=other_owner.user.pk, username=other_owner.user.username).exists()


def test_visible_user_cannot_be_edited_or_deleted_by_another(owner, org):
    colleague = make_member(org, role="viewer")
    patch = owner.client.patch(f"/api/users/{colleague.user.pk}/", {"username": "hijacked"})
    assert patch.status_code == 403
    assert owner.client.delete(f"/api/users/{colleague.user.pk}/").status_code == 403
    colleague.user.refresh_from_db()
    assert colleague.user.username != "hijacked"


def test_user_can_edit_self_but_not_delete_self(owner):
    assert owner.client.patch(f"/api/users/{owner.user.pk}/", {"phone": "999"}).status_code == 200
    assert owner.client.delete(f"/api/users/{owner.user.pk}/").status_code == 403
    assert User.objects.filter(pk=owner.user.pk).exists()
