"""Identity keys of users' emails and usernames, backfilled, then unique.

The keys replace the `LOWER(email)` constraint: they fold compatibility characters and case the
same way as every lookup does (crmApp.identity). Existing accounts whose emails or usernames
collide under that folding cannot both keep a unique key; the migration stops and names them so
an operator decides which account keeps the identifier, instead of silently merging or
renaming accounts.
"""

import unicodedata

from django.db import migrations, models

import crmApp.models.users


def _key(value: str) -> str:
    # A frozen copy of crmApp.identity.identity_key: a migration must keep meaning what it meant
    # when it was written, whatever that function becomes.
    folded = unicodedata.normalize("NFKC", value or "").casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def backfill(apps, schema_editor):
    User = apps.get_model("crmApp", "User")
    seen: dict[tuple[str, str], int] = {}
    clashes = []
    rows = []
    for user in User.objects.only("pk", "email", "username").order_by("pk").iterator():
        user.email_key, user.username_key = _key(user.email), _key(user.username)
        for column in ("email_key", "username_key"):
            value = getattr(user, column)
            first = seen.setdefault((column, value), user.pk)
            if first != user.pk:
                clashes.append(f"{column} {value!r}: users {first} and {user.pk}")
        rows.append(user)
    if clashes:
        raise RuntimeError(
            "Accounts whose identifiers are equal after normalisation; rename or merge them, "
            "then migrate again:\n  " + "\n  ".join(clashes)
        )
    User.objects.bulk_update(rows, ["email_key", "username_key"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("crmApp", "0003_pg_search_indexes_fastupdate_off"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_key",
            field=crmApp.models.users.IdentityKeyField(max_length=320, null=True, source="email"),
        ),
        migrations.AddField(
            model_name="user",
            name="username_key",
            field=crmApp.models.users.IdentityKeyField(
                max_length=320, null=True, source="username"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="user",
            name="email_key",
            field=crmApp.models.users.IdentityKeyField(max_length=320, source="email"),
        ),
        migrations.AlterField(
            model_name="user",
            name="username_key",
            field=crmApp.models.users.IdentityKeyField(max_length=320, source="username"),
        ),
        migrations.RemoveConstraint(
            model_name="user",
            name="users_email_ci_unique",
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("email_key",), name="users_email_key_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(
                fields=("username_key",), name="users_username_key_unique"
            ),
        ),
    ]
