"""Starts the real server (target/debug/promptrefine) on a temporary SQLite
database, signs in as the admin and makes an API token."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("PROMPTREFINE_BIN", ROOT / "target" / "debug" / "promptrefine"))
EMAIL = "admin@example.com"
PASSWORD = "client-tests-password-42"


class Server:
    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": f"sqlite://{self.dir.name}/client-tests.db",
            "BIND": "127.0.0.1:0",
            "LOG_FORMAT": "text",
            "AUTH_ADMIN_EMAIL": EMAIL,
            "AUTH_ADMIN_PASSWORD": PASSWORD,
        }
        if not BINARY.exists():
            raise RuntimeError(f"build the server first: {BINARY} is missing")
        self.proc = subprocess.Popen(
            [str(BINARY), "serve"], cwd=self.dir.name, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.url = self._wait_for_url()
        threading.Thread(target=self._drain, daemon=True).start()
        self.token = self._make_token()

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server exited before listening")
            m = re.search(r"listening on (http://[0-9.:]+)", line)
            if m:
                return m.group(1)
        raise RuntimeError("the server did not start listening")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def _make_token(self) -> str:
        with httpx.Client(base_url=self.url, headers={"origin": self.url}) as c:
            r = c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
            r.raise_for_status()
            r = c.post("/api/tokens", json={"name": "client tests"})
            r.raise_for_status()
            return r.json()["data"]["token"]

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {self.token}"})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()
    s.dir.cleanup()


@pytest.fixture()
def own_server() -> Iterator[Server]:
    """A server the test may stop."""
    s = Server()
    yield s
    s.stop()
    s.dir.cleanup()
