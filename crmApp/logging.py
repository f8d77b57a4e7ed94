"""Log formatters: plain text for development, one JSON object per line for production."""

import json
import logging
import re
import threading
import time

REQUEST_FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "user_id",
    "organization_id",
    "client_ip",
)

# Control characters (C0, DEL, C1), the Unicode line and paragraph separators, and the
# backslash itself, so an escaped sequence cannot be confused with one the client sent.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    )


def escape_control(value: object) -> str:
    """`value` as text on one line: a path or header decoded from `%0a` cannot start a forged
    log line."""
    return _UNSAFE.sub(_escape_char, str(value))


#: Every JSON line carries exactly these keys (null where a record has no value), whichever
#: logger wrote it: Django, the request middleware, Celery or gunicorn's access and error logs.
JSON_KEYS = ("time", "level", "logger", "message", *REQUEST_FIELDS, "exception")


def _gunicorn_access_fields(record: logging.LogRecord) -> dict:
    """The request fields of a gunicorn access record (its arguments are gunicorn's atoms)."""
    atoms = record.args if isinstance(record.args, dict) else {}
    if record.name != "gunicorn.access" or not atoms:
        return {}
    status = atoms.get("s")
    duration = atoms.get("D")
    return {
        "method": atoms.get("m"),
        "path": atoms.get("U"),
        "status": int(status) if str(status).isdigit() else status,
        "duration_ms": round(int(duration) / 1000, 2) if str(duration).isdigit() else None,
        "client_ip": atoms.get("h"),
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the keys of `JSON_KEYS`, always all of them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = dict.fromkeys(JSON_KEYS)
        entry.update(
            {
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
        )
        entry.update(_gunicorn_access_fields(record))
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """One line per record: the message and request fields have control characters escaped.

    A traceback or stack keeps its lines (it is meant to be read), each indented, so none of
    them can pass for a record of its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = escape_control(super().formatMessage(record))
        if hasattr(record, "request_id"):
            fields = ("request_id", "user_id", "organization_id", "client_ip")
            line += "".join(
                f" {name}={escape_control(getattr(record, name, None))}" for name in fields
            )
        return line

    def formatException(self, ei) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


_last_logged: dict[str, float] = {}
_last_logged_lock = threading.Lock()


def log_at_most_every(
    logger: logging.Logger, key: str, seconds: float, message: str, *args: object
) -> bool:
    """Log a warning under `key` at most once per `seconds` in this process.

    For outages that every request runs into (cache, database): one line says it, thousands
    would bury everything else. Returns whether the line was written.
    """
    now = time.monotonic()
    with _last_logged_lock:
        last = _last_logged.get(key)
        if last is not None and now - last < seconds:
            return False
        _last_logged[key] = now
    logger.warning(message, *args)
    return True


def forget_logged() -> None:
    """Let every rate-limited warning be written again (a new test starts from a quiet log)."""
    with _last_logged_lock:
        _last_logged.clear()
