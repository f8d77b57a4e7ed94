"""The text log format keeps one record on one line, whatever the client sends."""

import io
import logging

import pytest

from crmApp.logging import TextFormatter, escape_control

FORMAT = "%(levelname)s %(name)s %(message)s"


@pytest.fixture
def text_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter(FORMAT))
    logger = logging.getLogger("crmApp.requests")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_escape_control_keeps_text_on_one_line():
    assert (
        escape_control("a\nb\r\tc\x00\x7f\x85\u2028\\n")
        == "a\\nb\\r\\tc\\x00\\x7f\\x85\\u2028\\\\n"
    )
    assert escape_control("caf\u00e9 /api/customers/") == "caf\u00e9 /api/customers/"


@pytest.mark.django_db
def test_a_newline_in_the_path_cannot_forge_a_log_line(api_client, text_log):
    forged = "INFO crmApp.requests GET /api/admin-export/ 200 1.0ms"
    response = api_client.get(
        "/api/nowhere/%0a" + forged.replace(" ", "%20"), {"organization": "1\r\nINFO forged"}
    )
    assert response.status_code == 404
    lines = text_log.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("INFO crmApp.requests GET /api/nowhere/\\nINFO crmApp.requests GET")
    assert "organization_id=1\\r\\nINFO forged" in lines[0]


def test_a_traceback_keeps_its_lines_indented_under_its_record(text_log):
    logger = logging.getLogger("crmApp.requests")
    try:
        raise ValueError("bad\nINFO crmApp.requests forged")
    except ValueError:
        logger.exception("failed %s", "x\ny")
    first, *rest = text_log.getvalue().splitlines()
    assert first == "ERROR crmApp.requests failed x\\ny"
    assert rest and all(line.startswith("    ") for line in rest)
