"""Drop indexes another index already leads with (tests/test_indexes.py keeps it so).

Every foreign key had an index of its own; where a composite index or a unique constraint
starts with that column, the single-column index only cost writes. The fields' `db_index=False`
is recorded as state only: Django would drop and re-add each foreign key constraint to change
it, scanning the table to validate it again, while dropping the index is all there is to do.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

#: (table, column) of each foreign key whose own index goes.
FOREIGN_KEYS = [
    ("activities", "assignee_id"),
    ("activities", "customer_id"),
    ("activities", "deal_id"),
    ("activities", "lead_id"),
    ("activities", "organization_id"),
    ("attachments", "organization_id"),
    ("audit_events", "organization_id"),
    ("code_sequences", "organization_id"),
    ("customers", "organization_id"),
    ("deals", "organization_id"),
    ("deal_stage_history", "deal_id"),
    ("deal_stage_history", "organization_id"),
    ("employees", "organization_id"),
    ("events", "organization_id"),
    ("event_deliveries", "event_id"),
    ("idempotency_keys", "user_id"),
    ("import_chunks", "job_id"),
    ("import_jobs", "organization_id"),
    ("import_row_errors", "job_id"),
    ("invitations", "organization_id"),
    ("leads", "organization_id"),
    ("open_stay_tallies", "organization_id"),
    ("permissions", "organization_id"),
    ("pipelines", "organization_id"),
    ("pipeline_stages", "pipeline_id"),
    ("roles", "organization_id"),
    ("role_permissions", "role_id"),
    ("stage_entry_tallies", "organization_id"),
    ("stay_tallies", "organization_id"),
    ("user_organizations", "organization_id"),
    ("user_organizations", "user_id"),
    ("user_roles", "user_id"),
    ("refresh_tokens", "user_id"),
    ("vendors", "organization_id"),
    ("webhook_deliveries", "endpoint_id"),
    ("webhook_endpoints", "organization_id"),
]


def _single_column_indexes(schema_editor, table: str, column: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"]
        and info["columns"] == [column]
    ]


def drop_foreign_key_indexes(apps, schema_editor):
    for table, column in FOREIGN_KEYS:
        for name in _single_column_indexes(schema_editor, table, column):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_foreign_key_indexes(apps, schema_editor):
    quote = schema_editor.quote_name
    for table, column in FOREIGN_KEYS:
        if not _single_column_indexes(schema_editor, table, column):
            name = schema_editor._create_index_name(table, [column])
            schema_editor.execute(f"CREATE INDEX {quote(name)} ON {quote(table)} ({quote(column)})")


class Migration(migrations.Migration):

    dependencies = [
        ('crmApp', '0014_deal_owner_reports_index'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='customer',
            name='customers_assigne_e7f573_idx',
        ),
        migrations.RemoveIndex(
            model_name='deal',
            name='deals_organiz_757b27_idx',
        ),
        migrations.RemoveIndex(
            model_name='lead',
            name='leads_assigne_c5180e_idx',
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='activity',
                    name='assignee',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='activities', to='crmApp.employee'),
                ),
                migrations.AlterField(
                    model_name='activity',
                    name='customer',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='crmApp.customer'),
                ),
                migrations.AlterField(
                    model_name='activity',
                    name='deal',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='crmApp.deal'),
                ),
                migrations.AlterField(
                    model_name='activity',
                    name='lead',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='activities', to='crmApp.lead'),
                ),
                migrations.AlterField(
                    model_name='activity',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='attachment',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='audit_events', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='codesequence',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='code_sequences', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='customer',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='deal',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='dealstagehistory',
                    name='deal',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='stage_history', to='crmApp.deal'),
                ),
                migrations.AlterField(
                    model_name='dealstagehistory',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deal_stage_history', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='employee',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='event',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='eventdelivery',
                    name='event',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='crmApp.event'),
                ),
                migrations.AlterField(
                    model_name='idempotencykey',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='importchunk',
                    name='job',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='chunks', to='crmApp.importjob'),
                ),
                migrations.AlterField(
                    model_name='importjob',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='importrowerror',
                    name='job',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='row_errors', to='crmApp.importjob'),
                ),
                migrations.AlterField(
                    model_name='invitation',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='lead',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='openstaytally',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='permission',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='permissions', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='pipeline',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='pipelinestage',
                    name='pipeline',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='stages', to='crmApp.pipeline'),
                ),
                migrations.AlterField(
                    model_name='role',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='roles', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='rolepermission',
                    name='role',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='role_permissions', to='crmApp.role'),
                ),
                migrations.AlterField(
                    model_name='stageentrytally',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='staytally',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='userorganization',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='user_organizations', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='userorganization',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='user_organizations', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='userrole',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='user_roles', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='usersession',
                    name='user',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='refresh_tokens', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='vendor',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='%(class)ss', to='crmApp.organization'),
                ),
                migrations.AlterField(
                    model_name='webhookdelivery',
                    name='endpoint',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='crmApp.webhookendpoint'),
                ),
                migrations.AlterField(
                    model_name='webhookendpoint',
                    name='organization',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_endpoints', to='crmApp.organization'),
                ),
            ],
            database_operations=[
                migrations.RunPython(drop_foreign_key_indexes, create_foreign_key_indexes),
            ],
        ),
    ]
