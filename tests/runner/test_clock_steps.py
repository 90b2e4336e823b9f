"""A clock stepped back during a run (libfaketime fakes time.monotonic too) gives no negative duration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.conftest import CRONKIT, need, write_registry
from tests.runhelpers import runs, wait_path

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

TASKS = '''
@registry.task("* * * * *", name="stepback", environments=["*"])
def stepback(ctx):
    open(ctx.params["ready"], "w").close()
    while not os.path.exists(ctx.params["stepped"]):
        time.sleep(0.02)
    return {"ok": 1}
'''


def test_a_clock_stepped_back_mid_run_records_no_negative_duration(cronkit_env: dict[str, str], home: Path,
                                                                   tmp_path: Path) -> None:
    if shutil.which("faketime") is None or not os.path.exists(LIBFAKETIME):
        need("libfaketime", "apt-get install faketime")
    offset, ready, stepped = tmp_path / "offset", tmp_path / "ready", tmp_path / "stepped"
    offset.write_text("+0\n")
    plain = {**cronkit_env, "CRONKIT_TASKS": str(write_registry(tmp_path / "clock_tasks.py", TASKS))}
    warm = [CRONKIT, "run", "stepback", "--param", f"ready={ready}", "--param", f"stepped={offset}"]
    assert subprocess.run(warm, env=plain, capture_output=True, timeout=60).returncode == 0  # the run log exists
    ready.unlink()
    # FAKETIME_NO_CACHE: every clock read reads the offset file, so the step is seen at once, whatever the load.
    env = {**plain, "LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "0", "FAKETIME_DONT_RESET": "1"}
    proc = subprocess.Popen([CRONKIT, "run", "stepback", "--json", "--param", f"ready={ready}",
                             "--param", f"stepped={stepped}"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_path(ready, proc=proc)
    offset.write_text("-3600\n")  # the clock goes back an hour, the monotonic one too
    stepped.touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["duration_ms"] >= 0
    run = runs(home / "cronkit.db")[-1]
    assert run["status"] == "succeeded" and run["duration_ms"] >= 0
    assert run["finished_at"] < run["started_at"]  # the wall clock did go back: the fake worked
