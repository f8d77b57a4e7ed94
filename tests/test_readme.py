"""README snippets that must keep working: they are executed here as documented."""

import contextlib
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command

README = Path(__file__).resolve().parent.parent / "README.md"

pytestmark = pytest.mark.django_db


def readme_snippet(marker: str) -> str:
    """The fenced Python block right after `<!-- marker -->` in README.md."""
    match = re.search(
        rf"<!-- {re.escape(marker)} -->\n```python\n(.*?)\n```", README.read_text(), re.DOTALL
    )
    assert match is not None, f"README lost its {marker} snippet"
    return match.group(1)


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
