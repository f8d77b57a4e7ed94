"""The stay tallies worked out from the stage history rows, and as stored, in one shape, so a
test compares them (`tests/api/test_reports_stays.py`, the bench seed's test)."""

from collections import Counter

from crmApp.models import DealStageHistory, OpenStayTally, StayTally
from crmApp.models import stays as arithmetic


def plain_stays() -> Counter:
    cells: Counter = Counter()
    rows = DealStageHistory.objects.filter(outcome="open", stage__isnull=False).values_list(
        "organization_id", "stage_id", "deal__is_won", "deal__is_lost", "entered_at", "left_at"
    )
    for organization, stage, won, lost, entered, left in rows:
        key = (organization, stage, won or lost)
        if left is None:
            day, offset = arithmetic.entry_cell(entered)
            cells[("open", *key, day, "stays")] += 1
            cells[("open", *key, day, "offsets")] += offset
        else:
            micros = arithmetic.stay_micros(entered, left)
            bucket = arithmetic.stay_bucket(micros)
            cells[("finished", *key, bucket, "stays")] += 1
            cells[("finished", *key, bucket, "micros")] += micros
            cells[("finished", *key, bucket, "residue")] += arithmetic.stay_residue(micros)
    return Counter({cell: value for cell, value in cells.items() if value})


def stored_stays() -> Counter:
    cells: Counter = Counter()
    for row in StayTally.objects.values():
        assert row["stays"] >= 0
        key = ("finished", row["organization_id"], row["stage_id"], row["deal_closed"])
        for column in ("stays", "micros", "residue"):
            cells[(*key, row["bucket"], column)] += row[column]
    for row in OpenStayTally.objects.values():
        assert row["stays"] >= 0
        key = ("open", row["organization_id"], row["stage_id"], row["deal_closed"], row["day"])
        for column in ("stays", "offsets"):
            cells[(*key, column)] += row[column]
    return Counter({cell: value for cell, value in cells.items() if value})
