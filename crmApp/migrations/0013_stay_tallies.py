from collections import Counter

import django.db.models.deletion
from django.db import migrations, models

from crmApp.models import stays

#: The rows of finished stays on PostgreSQL, read by the time-in-stage report per bucket.
FINISHED_STAYS_INDEX = (
    "CREATE INDEX IF NOT EXISTS stay_history_finished_bucket ON deal_stage_history "
    "(stage_id, stay_bucket(stay_micros(entered_at, left_at))) "
    "WHERE outcome = 'open' AND left_at IS NOT NULL AND stage_id IS NOT NULL"
)


def create_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in stays.SQL_FUNCTIONS:
        schema_editor.execute(sql)
    schema_editor.execute(FINISHED_STAYS_INDEX)


def drop_functions(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS stay_history_finished_bucket")
    for sql in stays.DROP_SQL_FUNCTIONS:
        schema_editor.execute(sql)


BACKFILL_SQL = (
    "INSERT INTO stay_tallies (organization_id, stage_id, deal_closed, bucket, stays, micros, "
    "residue) SELECT h.organization_id, h.stage_id, d.is_won OR d.is_lost, "
    "stay_bucket(stay_micros(h.entered_at, h.left_at)), COUNT(*), "
    "SUM(stay_micros(h.entered_at, h.left_at)), SUM(stay_residue(stay_micros(h.entered_at, "
    "h.left_at))) FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id "
    "WHERE h.outcome = 'open' AND h.left_at IS NOT NULL AND h.stage_id IS NOT NULL "
    "GROUP BY 1, 2, 3, 4"
)


OPEN_BACKFILL_SQL = (
    "INSERT INTO open_stay_tallies (organization_id, stage_id, deal_closed, day, stays, offsets) "
    "SELECT h.organization_id, h.stage_id, d.is_won OR d.is_lost, "
    "(h.entered_at AT TIME ZONE 'UTC')::date, COUNT(*), "
    "SUM(stay_micros(((h.entered_at AT TIME ZONE 'UTC')::date)::timestamp AT TIME ZONE 'UTC', "
    "h.entered_at)) FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id "
    "WHERE h.outcome = 'open' AND h.left_at IS NULL AND h.stage_id IS NOT NULL "
    "GROUP BY 1, 2, 3, 4"
)


def tally_open_stays(apps, schema_editor):
    """One tally per organization, stage, closed flag and day of entry of the stays still open."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OPEN_BACKFILL_SQL)
        return
    history = apps.get_model("crmApp", "DealStageHistory")
    tally = apps.get_model("crmApp", "OpenStayTally")
    alias = schema_editor.connection.alias
    sums = Counter()
    rows = history.objects.using(alias).filter(
        outcome="open", left_at__isnull=True, stage__isnull=False
    ).values_list("organization_id", "stage_id", "deal__is_won", "deal__is_lost", "entered_at")
    for organization_id, stage_id, won, lost, entered in rows.iterator(chunk_size=20_000):
        day, offset = stays.entry_cell(entered)
        sums[(organization_id, stage_id, won or lost, day, "stays")] += 1
        sums[(organization_id, stage_id, won or lost, day, "offsets")] += offset
    tally.objects.using(alias).bulk_create(
        (
            tally(
                organization_id=org,
                stage_id=stage,
                deal_closed=closed,
                day=day,
                stays=sums[(org, stage, closed, day, "stays")],
                offsets=sums[(org, stage, closed, day, "offsets")],
            )
            for (org, stage, closed, day) in sorted({key[:4] for key in sums})
        ),
        batch_size=5_000,
    )


def tally_finished_stays(apps, schema_editor):
    """One tally per organization, stage, closed flag and duration bucket from the history
    already stored (in one statement on PostgreSQL)."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL_SQL)
        return
    history = apps.get_model("crmApp", "DealStageHistory")
    tally = apps.get_model("crmApp", "StayTally")
    alias = schema_editor.connection.alias
    sums = Counter()
    rows = (
        history.objects.using(alias)
        .filter(outcome="open", left_at__isnull=False, stage__isnull=False)
        .values_list("organization_id", "stage_id", "deal__is_won", "deal__is_lost", "entered_at", "left_at")
    )
    for organization_id, stage_id, won, lost, entered, left in rows.iterator(chunk_size=20_000):
        micros = stays.stay_micros(entered, left)
        key = (organization_id, stage_id, won or lost, stays.stay_bucket(micros))
        sums[(*key, "stays")] += 1
        sums[(*key, "micros")] += micros
        sums[(*key, "residue")] += stays.stay_residue(micros)
    keys = sorted({key[:4] for key in sums})
    tally.objects.using(alias).bulk_create(
        (
            tally(
                organization_id=org,
                stage_id=stage,
                deal_closed=closed,
                bucket=bucket,
                stays=sums[(org, stage, closed, bucket, "stays")],
                micros=sums[(org, stage, closed, bucket, "micros")],
                residue=sums[(org, stage, closed, bucket, "residue")],
            )
            for (org, stage, closed, bucket) in keys
        ),
        batch_size=5_000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('crmApp', '0012_stage_entry_tallies'),
    ]

    operations = [
        migrations.CreateModel(
            name='StayTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('deal_closed', models.BooleanField()),
                ('bucket', models.IntegerField()),
                ('stays', models.IntegerField(default=0)),
                ('micros', models.BigIntegerField(default=0)),
                ('residue', models.BigIntegerField(default=0)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.organization')),
                ('stage', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.pipelinestage')),
            ],
            options={
                'db_table': 'stay_tallies',
                'constraints': [models.UniqueConstraint(fields=('organization', 'stage', 'deal_closed', 'bucket'), name='one_stay_tally_per_bucket')],
            },
        ),
        migrations.CreateModel(
            name='OpenStayTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('deal_closed', models.BooleanField()),
                ('day', models.DateField()),
                ('stays', models.IntegerField(default=0)),
                ('offsets', models.BigIntegerField(default=0)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.organization')),
                ('stage', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.pipelinestage')),
            ],
            options={
                'db_table': 'open_stay_tallies',
                'constraints': [models.UniqueConstraint(fields=('organization', 'stage', 'deal_closed', 'day'), name='one_open_stay_tally_per_day')],
            },
        ),
        migrations.AddIndex(
            model_name='dealstagehistory',
            index=models.Index(condition=models.Q(('left_at__isnull', True), ('outcome', 'open')), fields=['stage', 'entered_at'], name='stay_history_open_entered'),
        ),
        migrations.RunPython(create_functions, drop_functions),
        migrations.RunPython(tally_finished_stays, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(tally_open_stays, migrations.RunPython.noop, elidable=True),
    ]
