
import datetime
from collections import Counter

import django.db.models.deletion
from django.db import migrations, models


def tally_first_entries(apps, schema_editor):
    """One tally per organization, stage and UTC day from the history already stored: each
    deal counted once per stage on the day of its earliest row there, and once on the day of
    its latest."""
    history = apps.get_model("crmApp", "DealStageHistory")
    tally = apps.get_model("crmApp", "StageEntryTally")
    alias = schema_editor.connection.alias
    firsts, lasts = Counter(), Counter()
    rows = (
        history.objects.using(alias)
        .filter(stage__isnull=False)
        .order_by()
        .values_list("organization_id", "stage_id", "deal_id")
        .annotate(first=models.Min("entered_at"), last=models.Max("entered_at"))
    )
    for organization_id, stage_id, _deal_id, first, last in rows.iterator(chunk_size=20_000):
        firsts[(organization_id, stage_id, first.astimezone(datetime.UTC).date())] += 1
        lasts[(organization_id, stage_id, last.astimezone(datetime.UTC).date())] += 1
    tally.objects.using(alias).bulk_create(
        (
            tally(
                organization_id=org,
                stage_id=stage,
                day=day,
                first_entries=firsts[(org, stage, day)],
                last_entries=lasts[(org, stage, day)],
            )
            for (org, stage, day) in sorted(firsts.keys() | lasts.keys())
        ),
        batch_size=5_000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('crmApp', '0011_attachments_on_activities'),
    ]

    operations = [
        migrations.CreateModel(
            name='StageEntryTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('first_entries', models.IntegerField(default=0)),
                ('last_entries', models.IntegerField(default=0)),
                ('organization', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.organization')),
                ('stage', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='crmApp.pipelinestage')),
            ],
            options={
                'db_table': 'stage_entry_tallies',
                'constraints': [models.UniqueConstraint(fields=('organization', 'stage', 'day'), name='one_tally_per_stage_and_day')],
            },
        ),
        migrations.RunPython(tally_first_entries, migrations.RunPython.noop, elidable=True),
    ]
