"""Django admin: every registered model's list, add and change pages load for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from crmApp.models import User
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, org):
    build_world(org, marker="adminpages")
    superuser = User.objects.create_superuser("root@example.com", "root", "Sturdy-Passw0rd!")
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_admin_pages_load(admin_client, model):
    opts = model._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert add.status_code in (200, 403)
    row = model.objects.order_by("pk").first()
    if row is not None:
        change = admin_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        )
        assert change.status_code == 200


def test_every_project_model_is_registered():
    from django.apps import apps

    missing = [
        m._meta.label
        for m in apps.get_app_config("crmApp").get_models()
        if m not in admin.site._registry
    ]
    assert missing == []
