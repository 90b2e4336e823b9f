"""Words that must be true (issue 26): history keeps the id `cronkit show` needs, headers are not cut,
`due --explain` names a cron start that failed before its run."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cronkit.duties.catchup import (
    PENDING,
    SKIPPED,
    START_FAILED,
    Explained,
    SlotVerdict,
    with_start_failure,
)
from cronkit.registry import Registry
from tests.conftest import CRONKIT, write_registry
from tests.fixturetypes import RunCli

LONG = "nightly-export-of-the-quarterly-revenue-by-region-and-product-line"[:64]
TASKS = f"""
@registry.task("0 3 * * *", name="{LONG}")
def long_one(ctx: TaskContext) -> dict:
    raise ValueError("cannot read /srv/platform/exports/2026/11/quarterly-revenue-by-region.csv: permission denied")

@registry.task("0 4 * * *", name="short")
def short(ctx: TaskContext) -> dict:
    return {{}}
"""


@pytest.mark.parametrize("columns", ["80", None])  # an 80-column terminal; a pipe (rich's 80 then)
def test_history_keeps_the_id_at_80_columns(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path, columns: str | None) -> None:
    env = {**cronkit_env, "CRONKIT_TASKS": str(write_registry(tmp_path / "long_tasks.py", TASKS))}
    if columns is None:
        env.pop("COLUMNS")
    else:
        env["COLUMNS"] = columns
    assert run_cli("run", LONG, env=env).returncode == 1
    assert run_cli("run", "short", env=env).returncode == 0
    shown = subprocess.run([CRONKIT, "history"], env=env, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)  # a real process, its stdout a pipe
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[2].split() == ["id", "task", "status", "trigger", "started", "took"]
    assert re.fullmatch(r" +2 short +succeeded +manual +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\S+", lines[4]), lines[4]
    # The long name gives way (cut with an ellipsis), the id stays.
    assert re.fullmatch(r" +1 nightly-export-of-the-quarte\S*… +failed +manual .*", lines[5]), lines[5]
    assert max(len(line) for line in lines) <= 80
    full = run_cli("history", env={**env, "COLUMNS": "200"})
    assert LONG in full.stdout and "permission denied" in full.stdout


def test_table_headers_are_never_cut(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`notify log`'s columns at every width: a column either fits whole or goes (no `tri…`)."""
    from cronkit.cli.tables import print_table

    columns = [("id", "right", 1), ("created", "left", 2), ("notifier", "left", 1), ("task", "left", 1),
               ("event", "left", 1), ("run", "right", 3), ("state", "left", 1), ("tries", "right", 4),
               ("error", "left", 5)]
    row = {"id": "12", "created": "2026-12-07 13:00:00Z", "notifier": "ops-hook", "task": "daily-session-cleanup",
           "event": "failure", "run": "1234", "state": "failed", "tries": "3",
           "error": "HTTP 500 from https://hooks.example.com/cronkit: internal server error"}
    for width in range(60, 131):
        monkeypatch.setenv("COLUMNS", str(width))
        print_table("notifications", columns, [row], wrap="error")
        lines = capsys.readouterr().out.splitlines()
        assert "…" not in lines[2], (width, lines[2])
        assert all(len(line) <= width for line in lines), width
        assert lines[2].split() == [name for name, _, _ in columns][:len(lines[2].split())] or \
            set(lines[2].split()) <= {name for name, _, _ in columns}


NOW = datetime(2026, 12, 7, 13, 7, tzinfo=UTC)


def _verdicts(*slots: tuple[int, str]) -> Explained:
    return Explained([SlotVerdict("t", NOW.replace(minute=m), v, "within its 5m grace: cron's own run is due"
                                  if v == PENDING else "missed; catchup=skip") for m, v in slots])


def test_explain_labels_a_start_that_failed_before_its_run() -> None:
    registry = Registry()
    task = registry.add("*/5 * * * *", "os:getcwd", name="t", catchup="skip")
    failure = {"task": "t", "at": "2026-12-07T13:05:02+00:00", "exit_code": 78,
               "error": "registry: /srv/app/tasks.py failed to import: SyntaxError: invalid syntax"}
    labelled = with_start_failure(_verdicts((0, SKIPPED), (5, PENDING)), task, failure).verdicts
    assert [(v.verdict, v.reason) for v in labelled] == [
        (SKIPPED, "missed; catchup=skip"),  # before the failed start: another cause
        (START_FAILED, "cron's start at 2026-12-07 13:05Z failed before a run was recorded:"
                       " registry: /srv/app/tasks.py failed to import: SyntaxError: invalid syntax"),
    ]
    # Past its grace, the slot keeps its catch-up verdict and says why it was missed.
    late = with_start_failure(_verdicts((0, SKIPPED)), task, {**failure, "at": "2026-12-07T13:00:01+00:00"})
    assert late.verdicts[0].verdict == SKIPPED
    assert late.verdicts[0].reason.startswith("cron's start at 2026-12-07 13:00Z failed before a run was recorded:")
    # Another task's failed start: the block's starts fail (the registry is shared).
    other = with_start_failure(_verdicts((5, PENDING)), task, {**failure, "task": "other"}).verdicts[0]
    assert (other.verdict, other.reason) == (
        START_FAILED, "the block's cron starts fail (latest: other at 2026-12-07 13:05Z):"
                      " registry: /srv/app/tasks.py failed to import: SyntaxError: invalid syntax")
    assert with_start_failure(_verdicts((5, PENDING)), task, None).verdicts[0].verdict == PENDING


def test_due_explain_after_a_real_failed_cron_start(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path, home: Path) -> None:
    """Install, break the registry, let cron's start fail, mend it: the slot reads `failed`, not `pending`."""
    source = 'registry.add("* * * * *", "os:getcwd", name="every", environments=["production"], grace="1h")\n'
    registry = write_registry(tmp_path / "ticks.py", source)
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_CRON_D": str(cron_d), "CRONKIT_ENV": "production"}
    done = run_cli("install", "--target", "cron.d", "--user", "app", "--host-zone", "UTC", env=env)
    assert done.returncode == 0, done.stderr
    run_config = home / "cron" / "ticks.toml"
    registry.write_text(registry.read_text() + "raise RuntimeError('a broken deploy')\n")
    bare = {k: v for k, v in cronkit_env.items() if k != "CRONKIT_HOME"}
    failed = run_cli("--config", str(run_config), "run", "every", "--trigger", "cron", env=bare)
    assert failed.returncode == 78, failed.stderr
    record = json.loads((home / "start-failures" / "ticks.json").read_text())
    registry.write_text(registry.read_text().replace("raise RuntimeError('a broken deploy')\n", ""))
    explained = run_cli("due", "--explain", "every", "--since", "10m", "--json", env=env)
    assert explained.returncode == 0, explained.stderr
    at = datetime.fromisoformat(record["at"])
    mine = [v for v in json.loads(explained.stdout) if datetime.fromisoformat(v["slot"]) <= at]
    latest = mine[-1]  # the slot the failed start was for (an earlier one, within its grace, stays pending)
    assert latest["verdict"] == START_FAILED
    assert latest["reason"].startswith(f"cron's start at {at:%Y-%m-%d %H:%M}Z failed before a run was recorded:"
                                       f" registry: {registry} failed to import: RuntimeError: a broken deploy")
    assert datetime.fromisoformat(latest["slot"]) == at.replace(second=0, microsecond=0)
