"""Two real Celery workers for the throughput benches, and timing how fast they drain a count."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def celery_workers(
    *, queues: str, concurrency: int, prefix: str, env: dict
) -> Iterator[list[subprocess.Popen]]:
    """Two `celery -A crmAdmin worker` processes on `queues`, stopped (whole process groups)
    when the block ends, whatever happened inside it. Yields the two processes (each leads its
    own process group with its pool processes)."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crmAdmin", "worker", "-Q", queues,
             "-c", str(concurrency), "-n", f"bench{n}.{prefix}@%h", "--without-mingle",
             "--without-gossip", "--without-heartbeat", "-l", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )
        for n in (1, 2)
    ]  # fmt: skip
    try:
        time.sleep(6)  # let both workers connect before the race starts
        yield workers
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)


def seconds_until(done: Callable[[], int], *, target: int, stall_seconds: float = 60) -> float:
    """Seconds until `done()` reaches `target`; exits when it stops moving for `stall_seconds`."""
    started = progressed = time.perf_counter()
    count = 0
    while count < target:
        time.sleep(0.05)
        now = done()
        if now != count:
            count, progressed = now, time.perf_counter()
        elif time.perf_counter() - progressed > stall_seconds:
            raise SystemExit(f"no progress for {stall_seconds:.0f} s with {count} done")
    return time.perf_counter() - started
