"""Shared fixtures: real Redis, real PostgreSQL when configured, a private CRONKIT_HOME, the CLI."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CRONKIT = str(Path(sys.executable).with_name("cronkit"))


def need(what: str, install: str) -> None:
    """Fail in CI, skip elsewhere, when a service a test needs is missing."""
    message = f"{what} is not available: {install}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of the test session's own, on a free port, keeping nothing on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if os.environ.get("CRONKIT_TEST_REDIS_URL"):
        pytest.skip("uses its own redis-server; CRONKIT_TEST_REDIS_URL points elsewhere")
    if shutil.which("redis-server") is None:
        need("redis-server", "apt-get install redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real, empty Redis database for this test."""
    url = os.environ.get("CRONKIT_TEST_REDIS_URL")
    if not url:
        server: RedisServer = request.getfixturevalue("redis_server")
        if server.proc is None:  # a test stopped it: start it again
            server.start()
        url = server.url
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    yield url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of this test session's own on the PostgreSQL of CRONKIT_TEST_PG_URL, dropped at the end."""
    base = os.environ.get("CRONKIT_TEST_PG_URL")
    if not base:
        need("PostgreSQL", "set CRONKIT_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test")
    import psycopg

    name = f"cronkit_test_{os.getpid()}"
    with psycopg.connect(str(base), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield str(base).rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(str(base), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


_pg_schemas = itertools.count()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A PostgreSQL URL whose connections see only a fresh, empty schema of the session database.

    The one way tests isolate on PostgreSQL: every test gets its own schema (through search_path,
    so cronkit's unqualified table names land there); the session's database goes at the end.
    """
    import psycopg

    schema = f"t{next(_pg_schemas)}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{pg_database}?options=-csearch_path%3D{schema}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def cronkit_env(home: Path, tmp_path: Path) -> dict[str, str]:
    """An environment for `cronkit` subprocesses: private home, no inherited CRONKIT_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
    env.update({"CRONKIT_HOME": str(home), "HOME": str(tmp_path), "COLUMNS": "200"})
    env.pop("XDG_STATE_HOME", None)
    return env


@pytest.fixture
def run_cli(cronkit_env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the installed `cronkit` executable; return the CompletedProcess (text)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CRONKIT, *args], env={**cronkit_env, **(env or {})}, cwd=tmp_path,
            capture_output=True, text=True, timeout=timeout, input=input,
        )

    return run


def write_registry(path: Path, body: str) -> Path:
    """Write a registry module for a test; `body` follows the standard imports."""
    header = (
        "import os, sys, time, signal, subprocess\n"
        "from cronkit import Registry, TaskContext, TransientError\n"
        "registry = Registry()\n"
    )
    path.write_text(header + body)
    return path
