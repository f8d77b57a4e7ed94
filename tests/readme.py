"""The code blocks of README.md that tests execute or compile, so the documentation cannot drift."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_snippet(marker: str, *, language: str = "python") -> str:
    """The fenced code block right after `<!-- marker -->` in README.md, exactly as shown."""
    pattern = rf"<!-- {re.escape(marker)} -->\s*```{re.escape(language)}\n(.*?)```"
    match = re.search(pattern, README.read_text(), re.S)
    assert match is not None, f"README lost its {marker} snippet"
    return match.group(1)
