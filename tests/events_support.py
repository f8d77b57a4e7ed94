"""Helpers for the outbox tests: test consumers and pointing Celery at a real broker."""

import contextlib
import socket

from kombu import pools

from crmAdmin.celery import app as celery_app
from crmApp.services import outbox


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _reset_pools() -> None:
    """Forget pooled broker connections, so the next publish connects to the current URL."""
    pools.reset()
    celery_app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        celery_app.__dict__["amqp"]._producer_pool = None


@contextlib.contextmanager
def celery_broker(url: str):
    """Publish to `url` for real (eager mode off) for the duration; restored afterwards."""
    saved = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    celery_app.conf.broker_url = url
    celery_app.conf.task_always_eager = False
    _reset_pools()
    try:
        yield
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = saved
        _reset_pools()


class Recorder:
    """A consumer that remembers each event it saw and can be told to fail."""

    def __init__(self, name: str, types, *, fail_times: int = 0):
        self.name = name
        self.seen: list[int] = []
        self.fail_times = fail_times
        self.consumer = outbox.Consumer(name=name, types=frozenset(types), handler=self)

    def __call__(self, event) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError(f"{self.name} is down")
        self.seen.append(event.pk)
