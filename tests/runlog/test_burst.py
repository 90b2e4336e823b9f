"""Many `cronkit run` processes at once against one fresh SQLite run log (issue 2, "Many at once")."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, write_registry

PROCESSES = 50


@pytest.mark.slow
def test_burst_of_runs_records_each_once(cronkit_env: dict[str, str], home: Path, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "burst_registry.py", (
        "@registry.task('* * * * *', environments=['*'], singleton=False)\n"
        "def tick(ctx: TaskContext) -> dict:\n"
        "    return {'n': int(ctx.params['n'])}\n"
    ))
    env = {**cronkit_env, "CRONKIT_TASKS": str(registry)}
    assert not (home / "cronkit.db").exists()  # the first runs also race to create the schema
    procs = [
        subprocess.Popen([CRONKIT, "run", "tick", "--json", "--param", f"n={n}"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(PROCESSES)
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert "locked" not in err and "Traceback" not in err, err
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out))

    run_ids = [o["run_id"] for o in outcomes]
    assert sorted(run_ids) == list(range(1, PROCESSES + 1))  # every run got its own record
    assert sorted(o["result"]["n"] for o in outcomes) == list(range(PROCESSES))
    with sqlite3.connect(home / "cronkit.db") as conn:
        rows = conn.execute("SELECT id, status, params, result, attempts FROM runs ORDER BY id").fetchall()
        attempts = conn.execute("SELECT count(*), count(DISTINCT run_id) FROM attempts").fetchone()
    conn.close()
    assert len(rows) == PROCESSES
    assert {status for _, status, _, _, _ in rows} == {"succeeded"}  # none left running
    assert sorted(int(json.loads(params)["n"]) for _, _, params, _, _ in rows) == list(range(PROCESSES))
    assert all(json.loads(result) == {"n": int(json.loads(params)["n"])} for _, _, params, result, _ in rows)
    assert {a for *_, a in rows} == {1} and attempts == (PROCESSES, PROCESSES)
