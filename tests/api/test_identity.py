"""One identity normalisation (NFKC + case folding) for uniqueness, lookups and lockout keys."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from crmApp.identity import DOMAIN_REFUSED, email_domain_refused, identity_key
from crmApp.models import User, UserOrganization
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login/"
REGISTER = "/api/users/"
LONG_S = "\u017f"  # ſ, NFKC: s
KELVIN = "\u212a"  # K (Kelvin sign), NFKC: K


def register(client, email: str, username: str):
    return client.post(
        REGISTER,
        {
            "email": email,
            "username": username,
            "password": DEFAULT_PASSWORD,
            "password_confirm": DEFAULT_PASSWORD,
        },
    )


def test_identity_key_folds_compatibility_characters_and_case():
    assert identity_key(f"{LONG_S}ales@Acme.Example") == "sales@acme.example"
    assert identity_key(f"{KELVIN}im@acme.example") == "kim@acme.example"
    assert identity_key("Stra\u00dfe@acme.example") == "strasse@acme.example"
    assert identity_key("\uff53ales@acme.example") == "sales@acme.example"  # full-width s


def test_long_s_spelling_shares_the_lockout_budget_of_the_account(api_client, settings):
    settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT = 3
    user = UserFactory(email="sales@acme.example")
    spellings = ["sales@acme.example", f"{LONG_S}ales@acme.example", "SALES@acme.example"]
    for spelling in spellings:
        failed = api_client.post(LOGIN, {"email": spelling, "password": "wrong-password"})
        assert failed.status_code == 400
    blocked = api_client.post(
        LOGIN, {"email": f"{LONG_S}ales@acme.example", "password": DEFAULT_PASSWORD}
    )
    assert blocked.status_code == 429
    assert blocked.data["status_code"] == 429
    user.refresh_from_db()
    assert user.last_login_at is None
    assert user.refresh_tokens.count() == 0


def test_long_s_spelling_is_the_same_account_not_another(api_client):
    user = UserFactory(email="sales@acme.example")
    response = api_client.post(
        LOGIN, {"email": f"{LONG_S}ales@acme.example", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200
    assert response.data["user"]["id"] == user.pk


def test_kelvin_sign_cannot_register_an_existing_address(api_client):
    UserFactory(email="kim@acme.example", username="kim")
    response = register(api_client, f"{KELVIN}im@acme.example", "kelvin")
    assert response.status_code == 400
    assert response.data["details"] == {"email": ["User with this email already exists."]}
    assert User.objects.count() == 1


def test_kelvin_sign_registration_is_stored_normalised_and_owned_by_the_address(api_client):
    response = register(api_client, f"{KELVIN}im@acme.example", "kelvin")
    assert response.status_code == 201, response.data
    assert response.data["email"] == "Kim@acme.example"
    user = User.objects.get(pk=response.data["id"])
    assert (user.email_key, user.username_key) == ("kim@acme.example", "kelvin")
    login = api_client.post(LOGIN, {"email": "kim@acme.example", "password": DEFAULT_PASSWORD})
    assert login.status_code == 200
    assert login.data["user"]["id"] == user.pk
    again = register(api_client, "kim@acme.example", "kim")
    assert again.status_code == 400
    assert User.objects.count() == 1


def test_confusable_username_is_taken(api_client):
    UserFactory(username="kim")
    response = register(api_client, "new@acme.example", f"{KELVIN}IM")
    assert response.status_code == 400
    assert response.data["details"] == {"username": ["User with this username already exists."]}
    assert User.objects.count() == 1


def test_the_database_refuses_two_spellings_of_one_email():
    UserFactory(email="sales@acme.example", username="sales")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email=f"{LONG_S}ales@acme.example", username="other")
    assert User.objects.count() == 1


def test_the_database_refuses_two_spellings_of_one_username():
    UserFactory(email="a@acme.example", username="kim")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="b@acme.example", username=f"{KELVIN}IM")
    assert User.objects.count() == 1


def test_keys_follow_a_partial_save_of_the_email():
    user = UserFactory(email="old@acme.example")
    user.email = f"{LONG_S}ales@acme.example"
    user.save(update_fields=["email"])
    user.refresh_from_db()
    assert user.email_key == "sales@acme.example"


def test_add_member_by_email_finds_the_account_under_any_spelling(owner):
    newcomer = UserFactory(email="sales@acme.example")
    response = owner.client.post(
        f"/api/organizations/{owner.organization.pk}/add_member/",
        {"email": f"{LONG_S}ALES@acme.example"},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["user_id"] == newcomer.pk
    assert UserOrganization.objects.filter(user=newcomer, is_active=True).count() == 1


@pytest.mark.parametrize(
    "email",
    [
        "bob@\u0430cme.example",  # Cyrillic a in a Latin label
        "bob@paypa\u04cf.example",  # Cyrillic palochka for l
        "bob@\u0440\u0430\u0443.example",  # all-Cyrillic look-alike of "pay"
        "bob@acm\u03b5.example",  # Greek epsilon in a Latin label
    ],
)
def test_registration_refuses_mixed_script_or_confusable_domains(api_client, email):
    response = register(api_client, email, "bob")
    assert response.status_code == 400
    assert response.data["details"] == {"email": [DOMAIN_REFUSED]}
    assert User.objects.count() == 0


@pytest.mark.parametrize(
    "email",
    ["bob@m\u00fcnchen.example", "bob@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"],
)
def test_registration_accepts_single_script_international_domains(api_client, email):
    response = register(api_client, email, "bob")
    assert response.status_code == 201, response.data


def test_domain_rule_allows_the_usual_script_combinations():
    assert not email_domain_refused("a@\u6771\u4eac\u3068\u3046\u304d\u3087\u3046.jp")
    assert not email_domain_refused("a@acme-42.example")
    assert email_domain_refused("a@g\u043e\u043egle.com")


# --- the migration ----------------------------------------------------------------------------

BEFORE = [("crmApp", "0003_pg_search_indexes_fastupdate_off")]
AFTER = [("crmApp", "0004_user_identity_keys")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_migration_backfills_keys_and_refuses_colliding_accounts():
    old = _migrate(BEFORE).get_model("crmApp", "User")
    first = old.objects.create(email="Sales@acme.example", username="Sales", password="x")
    clash = old.objects.create(email=f"{LONG_S}ales@acme.example", username="s2", password="x")
    try:
        with pytest.raises(RuntimeError, match=f"users {first.pk} and {clash.pk}"):
            _migrate(AFTER)
        old.objects.filter(pk=clash.pk).delete()
        _migrate(AFTER)
        migrated = User.objects.get(pk=first.pk)
        assert (migrated.email_key, migrated.username_key) == ("sales@acme.example", "sales")
    finally:
        # Back to the latest migrations, not just this one: later tests on this database need
        # every table and column.
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
