"""Real servers for the tests, started from the machine's binaries and stopped by pid.

PostgreSQL: ``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` system user (ENVIRONMENT.md); its folder lives under /tmp because pytest's
tmp_path is not traversable by that user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found


class PostgresCluster:
    """A throw-away PostgreSQL cluster on 127.0.0.1 with a superuser ``postgres``."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wk-pg-"))
        self.port = free_port()
        self.password = "wk-test-superuser"
        self.as_root = os.geteuid() == 0
        self.pid: int | None = None

    def _run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", "postgres", "--", *cmd] if self.as_root else list(cmd)
        return subprocess.run(full, check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres")
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if self.as_root:
            shutil.chown(pwfile, "postgres")
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        )
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=60"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "30",
            "-o",
            opts,
            "start",
        )
        pidfile = self.root / "data" / "postmaster.pid"
        self.pid = int(pidfile.read_text().split()[0])

    def url(
        self, database: str = "postgres", user: str = "postgres", password: str | None = None
    ) -> str:
        pw = self.password if password is None else password
        return f"postgresql+psycopg://{user}:{pw}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user=postgres password={self.password}"
        with psycopg.connect(dsn + " dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.pid is not None:
            # SIGINT is pg_ctl's "fast" shutdown; we stop our own postmaster by its pid.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
