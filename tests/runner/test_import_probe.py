"""What `cronkit run` imports: the run path's modules stay within a declared list (issue 24, 27).

Cron starts `cronkit run` every minute, so its start-up is most of its cost. This probe runs a
no-op task in a real process with PYTHONPROFILEIMPORTTIME, which lists every module the process
imports, and fails when a cronkit module not declared below, or a heavy module (a third-party
package or a slow standard one), joins the run path. Adding one on purpose: put it in the list,
and measure with `bench/run_overhead.py` first. An import a task needs only sometimes belongs
behind a declared lazy seam (a function-level import with a `# lazy: <reason>` comment).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CRONKIT

# Every cronkit module a cron tick of a function task may import (no config file, SQLite run
# log, no notifiers, no Redis): the entry point, the runner and what it records with, the
# registry and the settings, and the metrics file written after the run.
RUN_PATH_MODULES = frozenset({
    "cronkit", "cronkit.main", "cronkit.plain", "cronkit.errors", "cronkit.clock", "cronkit.host",
    "cronkit.context",
    "cronkit.cli", "cronkit.cli.commands", "cronkit.cli.fastpath", "cronkit.cli.state", "cronkit.cli.run",
    "cronkit.config", "cronkit.config.settings", "cronkit.config.tables", "cronkit.config.values",
    "cronkit.registry", "cronkit.registry.command", "cronkit.registry.limits", "cronkit.registry.loader",
    "cronkit.registry.params", "cronkit.registry.sets",
    "cronkit.schedule", "cronkit.schedule.debcron",
    "cronkit.config.insights", "cronkit.version",
    "cronkit.locks",
    "cronkit.runner", "cronkit.runner.capture", "cronkit.runner.child", "cronkit.runner.command",
    "cronkit.runner.duties", "cronkit.runner.guards", "cronkit.runner.policy", "cronkit.runner.record",
    "cronkit.runner.slots", "cronkit.runner.spec", "cronkit.runner.supervise",
    "cronkit.runlog", "cronkit.runlog.auditrow", "cronkit.runlog.connect", "cronkit.runlog.engines",
    "cronkit.runlog.journal", "cronkit.runlog.link", "cronkit.runlog.version",
    "cronkit.runlog.leftover", "cronkit.runlog.pauses", "cronkit.runlog.queries", "cronkit.runlog.status",
    "cronkit.runlog.times", "cronkit.runlog.totals", "cronkit.runlog.writer", "cronkit.runlog.startfail",
    "cronkit.notify", "cronkit.notify.families", "cronkit.notify.figures", "cronkit.notify.promfile",
    "cronkit.duties", "cronkit.duties.missed", "cronkit.health", "cronkit.health.missed",
    "cronkit.safe", "cronkit.safe.cut", "cronkit.safe.encrypt", "cronkit.safe.files", "cronkit.safe.inputs",
    "cronkit.safe.jsontext", "cronkit.safe.redact", "cronkit.safe.terminal",
})

# Packages the run path must not load at all: third-party ones (the CLI's, the web's, the
# notifiers', Redis and SQLAlchemy, which a SQLite run log without Redis never needs) and the
# standard library's slow ones (each 2-10 ms of a tick; logging, traceback and inspect load only
# when a task logs, raises, or registers a function its code object cannot vouch for; zoneinfo only
# for a zone other than UTC).
HEAVY = frozenset({
    "sqlalchemy", "rich", "typer", "click", "redis", "httpx", "cron_descriptor", "cronsim", "cryptography",
    "starlette", "uvicorn", "anyio", "apprise", "jinja2", "yaml", "pydantic",
    "dataclasses", "inspect", "typing", "logging", "traceback", "asyncio", "email", "http", "urllib.request",
    "importlib.metadata", "subprocess", "socket", "ssl", "uuid", "random", "tempfile", "shutil",
    "difflib", "tokenize", "ast", "decimal", "argparse", "textwrap", "shlex", "tomllib", "hashlib",
    "zoneinfo",
})

REGISTRY = """\
from cronkit import Registry

registry = Registry()


@registry.task("* * * * *", environments=["*"])
def noop(ctx):
    return {}
"""


def imported_by(cronkit_env: dict[str, str], tmp_path: Path, *args: str, **extra: str) -> set[str]:
    """Run `cronkit ARGS` (EXTRA in its environment) with the interpreter's import profile on;
    return the modules it imported.

    A run of noop first creates the run log (its schema and migration modules are the first tick's
    only); the profiled command comes after, as every tick cron starts after that one does.
    """
    registry = tmp_path / "probe_registry.py"
    registry.write_text(REGISTRY)
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry), **extra}
    first = subprocess.run([CRONKIT, "run", "noop"], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    done = subprocess.run([CRONKIT, *args], env={**env, "PYTHONPROFILEIMPORTTIME": "1"},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("|")[2].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "self [us]" not in line}


def imported_by_run(cronkit_env: dict[str, str], tmp_path: Path, *args: str) -> set[str]:
    """Return the modules `cronkit run noop ARGS` imported: the tick cron starts every minute."""
    return imported_by(cronkit_env, tmp_path, "run", "noop", *args)


def heavy_among(modules: set[str]) -> set[str]:
    return {name for name in modules if name in HEAVY or name.partition(".")[0] in HEAVY}


def test_a_run_imports_only_the_declared_run_path(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    modules = imported_by_run(cronkit_env, tmp_path)
    assert "cronkit.runner.policy" in modules  # the probe sees the run path at all
    assert {name for name in modules if name.startswith("cronkit")} - RUN_PATH_MODULES == set()
    assert heavy_among(modules) == set()


def test_a_cron_run_imports_only_the_declared_run_path(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    modules = imported_by_run(cronkit_env, tmp_path, "--trigger", "cron")
    assert {name for name in modules if name.startswith("cronkit")} - RUN_PATH_MODULES == set()
    assert heavy_among(modules) == set()


@pytest.mark.parametrize("args", [("render",), ("install", "--dry-run"), ("check",)])
def test_crontab_commands_on_a_sqlite_run_log_never_load_sqlalchemy(cronkit_env: dict[str, str], tmp_path: Path,
                                                                    args: tuple[str, ...]) -> None:
    """`render`, `install` and the block's periodic `check` (auto_sync runs it every few minutes)
    read a SQLite run log through sqlite3: SQLAlchemy (0.15 s of a start) is for PostgreSQL (and for
    creating the run log's schema, which the first run here does)."""
    modules = imported_by(cronkit_env, tmp_path, *args, CRONKIT_CRONTAB_COMMAND="true")
    assert "cronkit.cli.app" in modules  # the probe sees the typer path at all
    assert not {name for name in modules if name.partition(".")[0] == "sqlalchemy"}
