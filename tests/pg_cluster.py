"""A PostgreSQL primary and a streaming replica of their own, for the read-replica tests.

`initdb` and `pg_basebackup` under a temporary directory, each server on a free port of
127.0.0.1 (trust authentication, sockets in the directory); the machine's own server is left as
it is. Both are stopped and removed after the session. Where it cannot be done (no PostgreSQL
server binaries, no `postgres` account to run them as root) the fixture skips and says why.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.events_support import free_port

START_TIMEOUT = 60


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory holding initdb, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    bin: Path
    root: Path
    run_as: list[str]
    primary_port: int
    replica_port: int

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{database}"

    def connect(self, port: int, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(port, database), autocommit=True, connect_timeout=5)

    def tool(self, name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, str(self.bin / name), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )

    def pg_ctl(self, data: str, *args: str) -> None:
        self.tool("pg_ctl", "-D", str(self.root / data), *args)

    def start(self, data: str, port: int) -> None:
        options = f"-p {port} -k {self.root}"
        self.pg_ctl(data, "-w", "-l", str(self.root / f"{data}.log"), "-o", options, "start")

    def stop(self, data: str) -> None:
        self.pg_ctl(data, "-m", "fast", "-w", "stop")

    def stop_replica(self) -> None:
        self.stop("replica")

    def start_replica(self) -> None:
        self.start("replica", self.replica_port)
        self.wait_for_streaming()

    def wait_for_streaming(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with self.connect(self.primary_port) as primary:
                row = primary.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.1)
        raise AssertionError("the replica did not start streaming")

    def wait_for_replay(self) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        with self.connect(self.primary_port) as primary:
            (lsn,) = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with self.connect(self.replica_port) as replica:
                (done,) = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]
                ).fetchone()
            if done:
                return
            time.sleep(0.05)
        raise AssertionError("the replica did not catch up")

    def replica_sql(self, sql: str) -> None:
        with self.connect(self.replica_port) as replica:
            replica.execute(sql)


def _run_as() -> list[str]:
    """How to run the server tools: as ourselves, or (as root, which initdb refuses) as the
    `postgres` account."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres account to run initdb as")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing (initdb refuses root)")
    return [runuser, "-u", "postgres", "--"]


def _configure_primary(data: Path) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# the read-replica tests' own primary\n"
            "listen_addresses = '127.0.0.1'\n"
            "wal_level = replica\n"
            "max_wal_senders = 4\n"
            "hot_standby = on\n"
            # A throwaway cluster: durability buys nothing, speed does.
            "fsync = off\n"
            "full_page_writes = off\n"
            "synchronous_commit = off\n"
            "shared_buffers = 32MB\n"
            "max_connections = 60\n"
        )
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    binaries = server_binaries()
    if binaries is None or not (binaries / "pg_basebackup").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not installed")
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="crm-pg-cluster-"))
    if run_as:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
    root.chmod(0o755)
    cluster = Cluster(binaries, root, run_as, free_port(), free_port())
    started: list[str] = []
    try:
        cluster.tool(
            "initdb", "-D", str(root / "primary"), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        _configure_primary(root / "primary")
        cluster.start("primary", cluster.primary_port)
        started.append("primary")
        cluster.tool(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(cluster.primary_port),
            "-U", "postgres", "-D", str(root / "replica"), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        cluster.start("replica", cluster.replica_port)
        started.append("replica")
        cluster.wait_for_streaming()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as failed:
        _teardown(cluster, started)
        detail = getattr(failed, "stderr", "") or str(failed)
        pytest.skip(f"could not start a PostgreSQL primary and replica: {detail.strip()[:300]}")
    try:
        yield cluster
    finally:
        _teardown(cluster, ["replica", "primary"])


def _teardown(cluster: Cluster, started: list[str]) -> None:
    for data in started:
        # Already stopped when a test stopped the replica.
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            cluster.pg_ctl(data, "-m", "immediate", "-w", "stop")
    shutil.rmtree(cluster.root, ignore_errors=True)
