"""README snippets that must keep working: they are executed here as documented."""

import contextlib
import io

import pytest
from django.core.management import call_command

from tests.readme import readme_snippet

pytestmark = pytest.mark.django_db


def test_the_shell_example_runs_and_prints_what_the_readme_says():
    from crmApp.models import Customer, Deal, DealStageHistory

    call_command("seed_demo", "--force", stdout=io.StringIO())  # what `make demo` loads
    snippet = readme_snippet("shell-services")
    printed = io.StringIO()

    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})

    lines = printed.getvalue().splitlines()
    assert lines == [
        "Qualification 25.00",
        "closed 100.00",
        "DealTransitionError A won deal cannot be marked as lost; reopen it first.",
        "['deal.created', 'deal.stage_changed', 'deal.won']",
    ]
    # the README's comments show exactly that output
    for line in lines:
        assert f"# {line}" in snippet, line
    # and the records are what the services made: the refused loss changed nothing
    customer = Customer.objects.get(email="ada@example.com")
    deal = Deal.objects.get(customer=customer)
    assert (deal.is_won, deal.is_lost, deal.lost_reason) == (True, False, None)
    assert [row.outcome for row in DealStageHistory.objects.filter(deal=deal).order_by("id")] == [
        "open",
        "open",
        "won",
    ]
