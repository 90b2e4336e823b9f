"""The real cron daemon and a hand-written cron.d file: adopted, fired by cron through `cronkit run`,
and `adopt --undo` back to its bytes."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CRONKIT
from tests.e2e.realcron import (
    CRON_D,
    LEAD,
    WAIT_SECONDS,
    host_zone,
    recorded_runs,
)

# Ten and more lines as they are found on hosts: comments, assignments (one quoted), names for
# days and months, @weekly, a `%` feeding standard input, @reboot, quotes, redirections,
# `cd dir && ...`, escaped `\%`, trailing blanks, a carriage return, SHELL=/bin/bash, a failure.
# {when} is the minute and hour cron is to fire; {days} a day-of-week range naming today.
HAND_WRITTEN = (
    "# Shop maintenance, set up by hand in 2019 \n"
    'MAILTO=""\n'
    "PATH=/usr/local/bin:/usr/bin:/bin\n"
    "OUT={out}\n"
    "\n"
    "{when} * * {days} root  echo \"weekday run\" > $OUT/weekday.txt\n"
    "{when} * * * root cd {out} && printf '\\%s|\\%s\\n' \"it's\" 'say \"hi\"' > quotes.txt\n"
    "{when} * {month} * root date +\\%Y > $OUT/year.txt 2>&1\n"
    "@weekly root echo weekly >> $OUT/weekly.txt\n"
    "{when} * * * root echo cr > $OUT/cr.txt # a line from a Windows editor\r\n"
    "{when} * * * root echo trailing > $OUT/trailing.txt   \n"
    "0 3 * * * root mail -s report root % the body\n"
    "@reboot root echo booted > $OUT/boot.txt\n"
    "SHELL=/bin/bash\n"
    "# bash only from here\n"
    "{when} * * * root echo \"$((6 * 7)) ${{BASH_VERSION:+bash}}\" > $OUT/bash.txt\n"
    "{when} * * * root test -e $OUT/nothing-here\n"
)
DAY_RANGES = ("mon-fri", "mon-fri", "mon-fri", "mon-fri", "mon-fri", "sat-sun", "sat-sun")


def cron_runs_an_adopted_crontab_through_cronkit_and_undo_restores_its_bytes(cronkit_env: dict[str, str],
                                                                             tmp_path: Path) -> None:
    """A hand-written cron.d file is adopted; at the next minute cron runs its jobs through
    `cronkit run` (each with its shell, environment and exit code recorded); `history` and `list`
    show them; `adopt --undo` puts the file back byte for byte."""
    out, home = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    env = {k: v for k, v in cronkit_env.items() if k not in ("PYTHONPATH", "CRONKIT_CRON_D", "CRONKIT_TASKS")}
    env["CRONKIT_HOME"] = str(home)
    path = CRON_D / f"cronkit-adopt-{uuid.uuid4().hex[:10]}"
    try:
        original, boundary, adopted = _adopt_for_next_minute(env, path, out)
        expected = {"weekday.txt": "weekday run", "quotes.txt": "it's|say \"hi\"", "cr.txt": "cr",
                    "trailing.txt": "trailing", "bash.txt": "42 bash",
                    "year.txt": str(datetime.fromtimestamp(boundary).year)}
        fired = {name for name, job in adopted.items() if not job["schedule"].startswith("@")}
        assert len(fired) == 7, adopted
        time.sleep(max(0.0, boundary - time.time()))
        deadline, runs = boundary + WAIT_SECONDS, []
        while time.time() < deadline:
            runs = [r for r in recorded_runs(home) if r[1] != "running"]
            if {task for task, *_ in runs} >= fired:
                break
            time.sleep(1)
        by_task = {task: (status, trigger, slot) for task, status, trigger, slot in runs}
        assert set(by_task) >= fired, f"cron did not run every adopted job within {WAIT_SECONDS}s: {runs}"
        failing = next(name for name, job in adopted.items() if "nothing-here" in job["command"])
        assert by_task.pop(failing)[0] == "failed"
        assert {task: status for task, (status, *_) in by_task.items()} == dict.fromkeys(fired - {failing}, "succeeded")
        assert all(trigger == "cron" and slot == boundary * 1000 for _, trigger, slot in by_task.values())
        assert {f.name: f.read_text().strip() for f in out.iterdir()} == expected  # weekly, @reboot: not yet

        history = subprocess.run([CRONKIT, "history", failing, "--json"], env=env, capture_output=True, text=True)
        [failed] = json.loads(history.stdout)
        assert (failed["trigger"], failed["result"], failed["error"]) == (
            "cron", {"exit_code": 1}, "the command exited with status 1")
        listed = subprocess.run([CRONKIT, "list", "--json"], env=env, capture_output=True, text=True)
        assert {row["source"] for row in json.loads(listed.stdout)} == {str(home / "adopted.py")}

        undo = subprocess.run([CRONKIT, "adopt", "--undo", "--target", "cron.d", "--file", str(path)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert undo.returncode == 0, undo.stderr
        assert path.read_bytes() == original
    finally:
        path.unlink(missing_ok=True)



def _adopt_for_next_minute(env: dict[str, str], path: Path, out: Path) -> tuple[bytes, int, dict[str, dict[str, Any]]]:
    """Write the hand-written file for the next minute boundary at least LEAD seconds away and adopt it.

    Return (its bytes, the boundary, the adopted jobs by name). If the adoption ran past the
    boundary (a loaded machine), try the next one.
    """
    for _ in range(3):
        time.sleep(max(0.0, 2 - time.time() % 60))  # cron looks at the directory's mtime, in seconds
        boundary = (int(time.time() + LEAD) // 60 + 1) * 60
        fire = datetime.fromtimestamp(boundary, ZoneInfo(host_zone()))
        text = HAND_WRITTEN.format(out=out, when=f"{fire.minute} {fire.hour}", days=DAY_RANGES[fire.weekday()],
                                   month=f"{fire:%b}".lower())
        path.write_bytes(text.encode())
        path.chmod(0o644)
        done = subprocess.run([CRONKIT, "adopt", "--target", "cron.d", "--file", str(path), "--json"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert [kept["line"] for kept in report["kept"]] == [12, 13]  # the `%` line and @reboot
        if time.time() < boundary - 2:
            return text.encode(), boundary, {job["name"]: job for job in report["adopted"]}
        subprocess.run([CRONKIT, "adopt", "--undo", "--target", "cron.d", "--file", str(path)], env=env,
                       capture_output=True, timeout=120)
    pytest.fail(f"three adoptions each took more than {LEAD}s", pytrace=False)
