"""The API's JSON parser: DRF's, refusing what the rest of the stack cannot take.

- Nesting deeper than `MAX_JSON_DEPTH`: no request body of this API needs more than a handful of
  levels, and the standard decoder recurses once per level, so a small body of brackets
  otherwise ends in a RecursionError (a 500) instead of a refusal.
- NUL characters (`\\u0000`) in any string or key: PostgreSQL's text and jsonb types cannot store
  them, so they would fail at the database (a 500) after passing validation; the serializers'
  own refusal covers only plain text fields, not JSON fields, list items reaching a JSON column,
  or keys.

Both are refused as a parse error (400 in the error envelope), before any view code runs.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

#: Deepest nesting of arrays and objects a body may have (the top-level value is depth 1).
MAX_JSON_DEPTH = 32

TOO_DEEP = f"JSON parse error - nesting deeper than {MAX_JSON_DEPTH} levels."
NUL_CHARACTER = "JSON parse error - strings and keys cannot contain NUL (\\u0000) characters."


def _refusal(value) -> str | None:
    """Why `value` is refused, or None. Iterative, so hostile depth cannot exhaust the stack."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_CHARACTER
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return TOO_DEEP
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        return NUL_CHARACTER
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser plus the depth and NUL refusals above."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # Nesting deep enough to exhaust the decoder's recursion budget.
            raise ParseError(TOO_DEEP) from None
        refusal = _refusal(data)
        if refusal is not None:
            raise ParseError(refusal)
        return data
