"""Shared fixtures: real Redis, real PostgreSQL when configured, a private CRONKIT_HOME, the CLI."""

from __future__ import annotations

import io
import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from tests.fixturetypes import RunCli

# The real-cron scenarios are plain functions a test runs side by side: their asserts say what they saw too.
pytest.register_assert_rewrite("tests.e2e.realcron")

# Hypothesis loads its entry-point plugins on import: here only trio's, which registers trio's random
# generator (no test runs trio) at the cost of a scan of every installed distribution, 0.85 s of
# each worker's collection, and a HypothesisWarning. Set before any test module imports hypothesis.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
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
    """A redis-server of the test session's own, which a test may stop and start again.

    Even with CRONKIT_TEST_REDIS_URL set (a server no test may stop), a test that takes this
    fixture gets a server of its own: without the redis-server binary it fails in CI (skips
    elsewhere) and says so, never skips silently.
    """
    if shutil.which("redis-server") is None:
        elsewhere = " (CRONKIT_TEST_REDIS_URL serves the other tests; this one stops its server)" \
            if os.environ.get("CRONKIT_TEST_REDIS_URL") else ""
        need("redis-server", "apt-get install redis-server" + elsewhere)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real, empty Redis database for this test: CRONKIT_TEST_REDIS_URL's, else the session's own.

    A test that also takes `redis_server` (to stop it) gets that server's URL.
    """
    url = os.environ.get("CRONKIT_TEST_REDIS_URL")
    if not url or "redis_server" in request.fixturenames:
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


# Words of a command line that runs a task: `cronkit run`, `cronkit dlq retry`, `cronkit demo run`.
# A run forks, handles signals, makes its process a subreaper and lets child processes write to
# its file descriptors: only a real process shows that. PYTHON* variables are read only when the
# interpreter starts: a command line that sets them differently needs a process of its own too.
# (CRONKIT_HOSTNAME and CRONKIT_NOW are settings, applied by each command line and unpinned after.)
RUNS_A_TASK = frozenset({"run", "retry"})


def needs_process(args: Sequence[str], env: dict[str, str]) -> bool:
    """Tell a command line that only a real `cronkit` process runs faithfully."""
    if RUNS_A_TASK.intersection(args):
        return True
    python = {k for k in {*env, *os.environ} if k.startswith("PYTHON")}
    return any(env.get(k) != os.environ.get(k) for k in python)


def run_in_process(args: Sequence[str], env: dict[str, str], cwd: Path,
                   input: str | None = None, entry: Callable[[list[str]], Any] | None = None,
                   ) -> subprocess.CompletedProcess[str]:
    """Run `cronkit ARGS` through its console-script function in this process, as a subprocess would.

    The environment is replaced (not merged) and the working directory changed for the call,
    stdin reads `input`, stdout and stderr are captured, SystemExit becomes the return code;
    all of it is restored afterwards. `entry` replaces the console-script function (main).
    """
    from cronkit.main import main as console_script

    main: Callable[[list[str]], Any] = entry or console_script

    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin = io.StringIO(input or "")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:  # sys.exit("message"), as the interpreter reports it
                    print(exc.code, file=sys.stderr)
                    code = 1
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        # The command line pinned the process-wide clock, host name and payload keys (config.activate):
        # unpin, so that a later test in this worker starts from a plain process.
        from cronkit import clock, host
        from cronkit.safe import encrypt

        clock.pin(None)
        host.set_hostname(socket.gethostname())
        encrypt.configure(None)
    return subprocess.CompletedProcess([CRONKIT, *args], code, out.getvalue(), err.getvalue())


def run_cronkit(args: Sequence[str], env: dict[str, str], cwd: Path, *, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `cronkit ARGS` with exactly `env` in `cwd`: in this process (run_in_process), or as the
    installed executable when the command line needs a real process (needs_process)."""
    if needs_process(args, env):
        return run_executable(args, env, cwd, input=input, timeout=timeout)
    return run_in_process(args, env, cwd, input=input)


def run_executable(args: Sequence[str], env: dict[str, str], cwd: Path, *, input: str | None = None,
                   timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `cronkit` executable with exactly `env` in `cwd`; return the CompletedProcess (text)."""
    return subprocess.run([CRONKIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          input=input)


@pytest.fixture
def run_process(cronkit_env: dict[str, str], tmp_path: Path) -> RunCli:
    """Run the installed `cronkit` executable; return the CompletedProcess (text)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_executable(args, {**cronkit_env, **(env or {})}, tmp_path, input=input, timeout=timeout)

    return run


@pytest.fixture
def run_cli(cronkit_env: dict[str, str], tmp_path: Path) -> RunCli:
    """Run `cronkit`: in this process, or as the installed executable when the command line needs
    a real process (needs_process); return the CompletedProcess (text) either way."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cronkit(args, {**cronkit_env, **(env or {})}, tmp_path, input=input, timeout=timeout)

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the longest waits first, so that under xdist (`--dist loadfile`, files in this order)
    they overlap the rest of the suite rather than trail it: the real-cron test, then files that
    are slow as a whole (the browser's), then the tests marked `slow`, then the rest."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("cron") is not None:
            return 0
        marks = getattr(getattr(item, "module", None), "pytestmark", [])
        if any(mark.name == "slow" for mark in (marks if isinstance(marks, list) else [marks])):
            return 1
        return 2 if item.get_closest_marker("slow") is not None else 3

    items.sort(key=rank)  # stable: collection order within a rank
