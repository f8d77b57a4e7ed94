"""Run calls at the same moment in real threads, for race tests on PostgreSQL."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def run_concurrently(calls: list[Callable[[], Any]], *, timeout: float = 60) -> list[Any]:
    """Start every call together (a barrier releases them at once), each on its own database
    connection, and return what each returned or the exception it raised, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results
