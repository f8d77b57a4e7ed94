"""A Redis of the test's own for tests of the shared cache: started on a free port, no disk."""

import shutil
import socket
import subprocess
import time


def failover_cache(url: str, retry_seconds: float = 30.0) -> dict:
    return {
        "default": {
            "BACKEND": "crmApp.cache.FailoverRedisCache",
            "LOCATION": url,
            "OPTIONS": {
                "socket_connect_timeout": 0.5,
                "socket_timeout": 0.5,
                "RETRY_SECONDS": retry_seconds,
            },
        }
    }


REDIS_SERVER = shutil.which("redis-server")


def _wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"redis-server did not listen on {port}")


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_port(port)
    return process


def stop_redis(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)
