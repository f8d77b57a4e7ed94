"""The code blocks of README.md that tests execute, so the documentation cannot drift."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_snippet(marker: str) -> str:
    """The fenced Python block right after `<!-- marker -->` in README.md, exactly as shown."""
    match = re.search(
        rf"<!-- {re.escape(marker)} -->\s*```python\n(.*?)```", README.read_text(), re.S
    )
    assert match is not None, f"README lost its {marker} snippet"
    return match.group(1)
