"""A real ``mlflow server`` on loopback for the tests, started light and stopped by its pid.

ENVIRONMENT.md's light flags: one worker, no job execution, a SQLite backend store and a
local artifact destination, telemetry off. A server answers in 6-7 s, so tests share one per
session; :func:`start_many` starts several at once and waits for all of them.

With ``auth=True`` the server runs MLflow's basic-auth app (needs ``mlflow[auth]``, i.e.
Flask-WTF) with an absolute auth-DB path and the admin password from this object.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from servers import free_port

ADMIN_USER = "admin"


class MlflowServer:
    """One ``mlflow server`` process on 127.0.0.1 at a free port, with its own folder."""

    def __init__(
        self,
        *,
        auth: bool = False,
        admin_password: str = "wk-admin-Pw-0451",
        parent: str | Path | None = None,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wk-mlflow-", dir=parent))
        self.port = free_port()
        self.host = "127.0.0.1"
        self.auth = auth
        self.admin_user = ADMIN_USER
        self.admin_password = admin_password
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "server.log"
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _command(self) -> list[str]:
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        cmd = [str(mlflow_bin)] if mlflow_bin.exists() else [sys.executable, "-m", "mlflow"]
        cmd += [
            "server",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", self.host,
            "--port", str(self.port),
            "--workers", "1",
        ]  # fmt: skip
        if self.auth:
            cmd += ["--app-name", "basic-auth"]
        return cmd

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        for var in (
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
            "MLFLOW_TRACKING_TOKEN",
        ):
            env.pop(var, None)
        if self.auth:
            ini = self.root / "basic_auth.ini"
            ini.write_text(
                "[mlflow]\n"
                "default_permission = READ\n"
                f"database_uri = sqlite:///{self.root / 'basic_auth.db'}\n"
                f"admin_username = {self.admin_user}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                # Without it every request re-derives the PBKDF2 hash (~0.5 s a call here).
                "auth_cache_ttl_seconds = 300\n"
            )
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = self.admin_password
            # Flask sessions of the auth app want a fixed key; tests never use the UI.
            env.setdefault("MLFLOW_FLASK_SERVER_SECRET_KEY", "wk-tests-not-a-secret")
        return env

    def start(self) -> MlflowServer:
        """Launch the process; returns at once (call :meth:`wait_ready`)."""
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self._command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env(),
            cwd=self.root,
        )
        return self

    def wait_ready(self, timeout: float = 90.0) -> MlflowServer:
        """Poll ``/health`` until it answers 200; fail with the server's log if it dies."""
        assert self.proc is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def terminate(self) -> None:
        """SIGTERM to our own pid (it stops its worker tree); does not wait."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to our own pid, wait for it to exit, SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> MlflowServer:
        return self.start().wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def start_many(servers: Iterable[MlflowServer], timeout: float = 120.0) -> list[MlflowServer]:
    """Start servers side by side (each takes seconds to import MLflow), then wait for all."""
    servers = list(servers)
    try:
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(timeout)
    except BaseException:
        cleanup_many(servers)
        raise
    return servers


def cleanup_many(servers: Iterable[MlflowServer]) -> None:
    """Stop servers side by side (SIGTERM to each first), then remove their folders."""
    servers = list(servers)
    for server in servers:
        server.terminate()
    for server in servers:
        server.cleanup()
