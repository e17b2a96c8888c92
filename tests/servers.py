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
from typing import Any

PG_BIN_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_per_run(kind: str, tmp_path_factory: Any) -> None:
    """Fail, rather than start a second ``kind`` server, when another pytest-xdist worker of
    this run started one: the servers' tests all run on one worker (``tests/conftest.py``
    groups them), and a test that slips past the grouping is named here, not let run a second
    cluster beside the first."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    # a worker's basetemp is <the run's basetemp>/<worker id>: the parent is the run's
    claim = tmp_path_factory.getbasetemp().parent / f"{kind}.started-by"
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise RuntimeError(
            f"worker {worker} would start a second {kind} server in this run (worker "
            f"{claim.read_text()} started one): make the test's use of it visible to "
            "_uses_a_server in tests/conftest.py"
        ) from None
    with os.fdopen(fd, "w") as out:
        out.write(worker)


def stop_process(pid: int, sig: int, *, group: bool, grace_s: float = 30) -> None:
    """Send ``sig`` to the process (or its whole process group), wait up to ``grace_s`` for it
    to go, then SIGKILL. A child of ours is reaped, so its pid does not linger as a zombie."""
    send = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        send(pid, sig)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        send(pid, signal.SIGKILL)


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
            stop_process(self.pid, signal.SIGINT, group=False)
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


def _java_home() -> str | None:
    """A Java 17+ runtime for Spark: JAVA_HOME if set, else the machine's default java."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


class SparkThriftServer:
    """A local Spark Thrift server (Spark SQL over HiveServer2's protocol) from the pyspark
    distribution's own jars: local mode, loopback only, its warehouse, metastore and scratch
    folders in one temporary folder, started once per run and stopped by its pid."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wk-spark-"))
        self.port = free_port()
        self.pid: int | None = None
        self.log = self.root / "server.log"

    @property
    def url(self) -> str:
        return f"hive://127.0.0.1:{self.port}/default"

    def start(self, timeout: float = 180) -> None:
        import pyspark

        home = Path(pyspark.__file__).parent
        java_home = _java_home()
        if java_home is None:
            raise RuntimeError("Spark needs Java: no java on PATH and no JAVA_HOME")
        env = {**os.environ, "SPARK_HOME": str(home), "JAVA_HOME": java_home}
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        env["SPARK_LOCAL_DIRS"] = str(self.root / "local")
        derby = self.root / "metastore"
        cmd = [
            str(home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            "--master",
            "local[2]",
            "--driver-memory",
            "1g",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "--conf",
            f"spark.sql.warehouse.dir={self.root / 'warehouse'}",
            "--conf",
            f"spark.driver.extraJavaOptions=-Dderby.system.home={self.root / 'derby'} "
            f"-Djava.io.tmpdir={self.root}",
            "--hiveconf",
            "hive.server2.thrift.bind.host=127.0.0.1",
            "--hiveconf",
            f"hive.server2.thrift.port={self.port}",
            "--hiveconf",
            f"javax.jdo.option.ConnectionURL=jdbc:derby:;databaseName={derby};create=true",
            "spark-internal",
        ]
        with self.log.open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the Spark Thrift server exited: see {self.log}")
            if b"HiveThriftServer2 started" in self.log.read_bytes():
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=1),
                ):
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the Spark Thrift server did not start in {timeout:.0f} s")

    def execute(self, *statements: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def table_from_parquet(self, name: str, folder: Path) -> str:
        """A Parquet-backed table ``name`` over ``folder``; returns the source ``URL#table``."""
        self.execute(
            f"DROP TABLE IF EXISTS `{name}`",
            f"CREATE TABLE `{name}` USING parquet LOCATION '{folder}'",
        )
        return f"{self.url}#{name}"

    def stop(self) -> None:
        if self.pid is not None:
            # the whole session: spark-submit's script and the JVM it started
            stop_process(self.pid, signal.SIGTERM, group=True)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def spark_thrift_server() -> Iterator[SparkThriftServer]:
    server = SparkThriftServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
