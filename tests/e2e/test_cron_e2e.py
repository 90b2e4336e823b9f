"""End to end with the real cron daemon: install cron.d files from a user's project, let cron run
the task, the catch-up check line and a run that cannot start, see it all in the CLI, uninstall."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import CRONKIT, IN_CI, need

CRON_D = Path("/etc/cron.d")
PIDFILE = Path("/run/crond.pid")
# cron reads /etc/cron.d when it wakes at a minute boundary, then runs what is due in that minute.
# The test schedules its tasks for one minute only, the next boundary the install beats by LEAD
# seconds, and waits for that boundary, then at most WAIT_SECONDS for the runs to be recorded.
LEAD = 10
WAIT_SECONDS = 60


def cron_running() -> bool:
    """Return whether a cron daemon runs (its pidfile names a live `cron` process)."""
    for pidfile in (PIDFILE, Path("/var/run/crond.pid")):
        try:
            pid = int(pidfile.read_text().split()[0])
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            continue
        if comm == "cron":
            return True
    return False


# The README's "A task of your own", as a user lays it out: a package in a project directory,
# named by module (`CRONKIT_TASKS=myapp.cron`), installed from that directory with no PYTHONPATH.
APP = """from cronkit import Registry, TaskContext

registry = Registry()


@registry.task("{tick}", name="tick", environments=["*"], timeout="50s", timezone="{zone}")
def tick(ctx: TaskContext) -> dict:
    return {{"slot": ctx.slot.isoformat()}}


@registry.task("{caught}", name="caught", environments=["*"], timeout="50s", timezone="{zone}",
               catchup="latest", grace="30s")
def caught(ctx: TaskContext) -> dict:
    return {{"slot": ctx.slot.isoformat()}}
"""
BROKEN = """from cronkit import Registry

registry = Registry()


@registry.task("{tick}", name="tock", environments=["*"], timezone="{zone}", catchup="skip")
def tock(ctx):
    return {{}}
"""


@dataclass
class Project:
    """A user's project directory with its registry package, its cronkit home and its cron.d file."""

    root: Path
    package: str
    block_id: str
    env: dict[str, str]

    @property
    def module(self) -> Path:
        return self.root / self.package / "cron.py"

    @property
    def home(self) -> Path:
        return Path(self.env["CRONKIT_HOME"])

    def cronkit(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run `cronkit ARGS` from the project directory, as its user types it."""
        return subprocess.run([CRONKIT, *args], env={**self.env, **extra}, cwd=self.root, capture_output=True,
                              text=True, timeout=120)


def project(tmp_path: Path, cronkit_env: dict[str, str], name: str, package: str) -> Project:
    root = tmp_path / name
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    env = {k: v for k, v in cronkit_env.items() if k not in ("PYTHONPATH", "CRONKIT_CRON_D")}
    env.update({"CRONKIT_HOME": str(root / "state"), "CRONKIT_TASKS": f"{package}.cron",
                # the periodic `cronkit check` line every minute, so the test sees it fire
                "CRONKIT_CHECK_SCHEDULE": "* * * * *"})
    return Project(root, package, f"cronkit-e2e-{uuid.uuid4().hex[:10]}", env)


@pytest.mark.slow
@pytest.mark.cron
def test_cron_runs_a_users_registry_catches_up_and_reports_a_start_failure(
        cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """The real cron daemon, three things in one minute:

    - `tick`, in a project's own module registry installed as the README says, runs with trigger
      cron for the one minute it names, and `history` (typed in the project) shows it;
    - the block's `cronkit check` line fires and catches up `caught`, whose slot (the minute the
      install ran in) passed while its line was not yet in cron: the install is recorded two
      minutes earlier (`CRONKIT_NOW` pins the install's clock only; it is never written for cron),
      which is a host that was down over that slot, and the slot is run with trigger catchup;
    - a second project whose registry breaks after install: its cron run cannot start, leaves a
      start-failure record, and `status` and `health` in that project say so.
    """
    _need_cron_as_root()
    app = project(tmp_path, cronkit_env, "shop", "myapp")
    broken = project(tmp_path, cronkit_env, "billing", "billingapp")
    daemon: subprocess.Popen[bytes] | None = None
    try:
        daemon = _start_cron_unless_running()
        installed_at, boundary, missed = _install_for_next_minute(app, broken)
        broken.module.write_text("import billing_sdk_missing\n" + broken.module.read_text())
        fire = datetime.fromtimestamp(boundary, ZoneInfo(_host_zone()))
        text = (CRON_D / app.block_id).read_text()
        assert f"\n{fire.minute} {fire.hour} {fire.day} {fire.month} * root /" in text and " run tick --trigger cron\n" in text
        assert "\n* * * * * root /" in text and " check\n@reboot root /" in text
        st = (CRON_D / app.block_id).stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)

        runs: list[tuple[str, str, str, int | None]] = []
        failure = broken.home / "start-failures" / f"{broken.block_id}.json"
        time.sleep(max(0.0, boundary - time.time()))  # nothing can run before the boundary
        deadline = boundary + WAIT_SECONDS
        while time.time() < deadline:
            runs = _runs(app.home)
            # By slot: on a loaded machine a first install may be redone for the next minute, and the
            # runs of the first one's lines must not end the wait.
            done = {(task, trigger, slot) for task, status, trigger, slot in runs if status == "succeeded"}
            if {("tick", "cron", boundary * 1000), ("caught", "catchup", missed * 1000)} <= done and failure.exists():
                break
            time.sleep(1)
        succeeded = {(task, trigger, slot) for task, status, trigger, slot in runs if status == "succeeded"}
        assert ("tick", "cron", boundary * 1000) in succeeded, \
            f"cron did not run tick within {WAIT_SECONDS}s of {fire:%H:%M %Z}; runs: {runs}"
        assert ("caught", "catchup", missed * 1000) in succeeded, f"the check line did not catch up; runs: {runs}"
        assert all(slot is not None and slot >= int(installed_at // 60 * 60_000) - 60_000 for *_, slot in succeeded)

        history = app.cronkit("history", "--json")
        assert history.returncode == 0, history.stderr
        seen = {(r["task"], r["trigger"], r["status"]) for r in json.loads(history.stdout)}
        assert {("tick", "cron", "succeeded"), ("caught", "catchup", "succeeded")} <= seen

        assert failure.exists(), f"no start-failure record for the broken block within {WAIT_SECONDS}s"
        record = json.loads(failure.read_text())
        assert record["task"] == "tock" and "billing_sdk_missing" in record["error"]
        _assert_reports_start_failure(broken)

        for proj in (app, broken):
            gone = proj.cronkit("uninstall", "--target", "cron.d", "--id", proj.block_id,
                                CRONKIT_TASKS="cronkit.tasks")
            assert gone.returncode == 0, gone.stderr
            assert not (CRON_D / proj.block_id).exists()
    finally:
        for proj in (app, broken):
            (CRON_D / proj.block_id).unlink(missing_ok=True)
        _stop_cron(daemon)


def _assert_reports_start_failure(broken: Project) -> None:
    """`status` and `health`, typed in the broken project, name the start failure and its cause."""
    for command in ("status", "health"):
        shown = broken.cronkit(command)
        assert shown.returncode != 0, shown.stdout
        assert "billing_sdk_missing" in shown.stdout + shown.stderr, (shown.stdout, shown.stderr)
        assert "Traceback" not in shown.stderr
    health = broken.cronkit("health")
    assert health.returncode == 1  # unhealthy, with the block's start failure
    assert any(line.startswith("cron runs of this block are failing to start: tock at ")
               for line in health.stdout.splitlines()), health.stdout


def _install_for_next_minute(app: Project, broken: Project) -> tuple[float, int, int]:
    """Install both projects for the next minute boundary at least LEAD seconds away.

    Return (install time, boundary, the missed slot). `caught` names the minute the install
    runs in, recorded as installed two minutes before it. If the installs ran past the boundary
    (a loaded machine), schedule the next one and install again.
    """
    for _ in range(3):
        # cron notices a change by the directory's mtime, in seconds: not in the second it last looked
        time.sleep(max(0.0, 2 - time.time() % 60))
        installed_at = time.time()
        missed = int(installed_at) // 60 * 60
        boundary = (int(installed_at + LEAD) // 60 + 1) * 60
        zone = _host_zone()
        fire, gone = (datetime.fromtimestamp(t, ZoneInfo(zone)) for t in (boundary, missed))
        tick = f"{fire.minute} {fire.hour} {fire.day} {fire.month} *"
        app.module.write_text(APP.format(tick=tick, caught=f"{gone.minute} {gone.hour} {gone.day} {gone.month} *",
                                         zone=zone))
        broken.module.write_text(BROKEN.format(tick=tick, zone=zone))
        pinned = datetime.fromtimestamp(missed - 120, UTC).isoformat()
        for proj in (app, broken):
            done = proj.cronkit("install", "--target", "cron.d", "--id", proj.block_id, "--user", "root",
                                CRONKIT_NOW=pinned)
            assert done.returncode == 0, done.stderr
        if time.time() < boundary - 2:
            return installed_at, boundary, missed
    pytest.fail(f"three installs each took more than {LEAD}s", pytrace=False)


def _host_zone() -> str:
    """Return the zone cron runs in, from /etc/localtime (as cronkit's install finds it), else UTC."""
    target = str(Path("/etc/localtime").resolve())
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "UTC"


def _runs(home: Path) -> list[tuple[str, str, str, int | None]]:
    path = home / "cronkit.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return list(db.execute("SELECT task, status, trigger, scheduled_for FROM runs ORDER BY id"))
    except sqlite3.OperationalError:  # the schema is being created by the first run
        return []


# --- `cronkit adopt` of a hand-written cron.d file, fired by the real cron through cronkit ------

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


@pytest.mark.slow
@pytest.mark.cron
def test_cron_runs_an_adopted_crontab_through_cronkit_and_undo_restores_its_bytes(
        cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """A hand-written cron.d file is adopted; at the next minute cron runs its jobs through
    `cronkit run` (each with its shell, environment and exit code recorded); `history` and `list`
    show them; `adopt --undo` puts the file back byte for byte."""
    _need_cron_as_root()
    out, home = tmp_path / "out", tmp_path / "state"
    out.mkdir()
    env = {k: v for k, v in cronkit_env.items() if k not in ("PYTHONPATH", "CRONKIT_CRON_D", "CRONKIT_TASKS")}
    env["CRONKIT_HOME"] = str(home)
    path = CRON_D / f"cronkit-adopt-{uuid.uuid4().hex[:10]}"
    daemon: subprocess.Popen[bytes] | None = None
    try:
        daemon = _start_cron_unless_running()
        original, boundary, adopted = _adopt_for_next_minute(env, path, out)
        expected = {"weekday.txt": "weekday run", "quotes.txt": "it's|say \"hi\"", "cr.txt": "cr",
                    "trailing.txt": "trailing", "bash.txt": "42 bash",
                    "year.txt": str(datetime.fromtimestamp(boundary).year)}
        fired = {name for name, job in adopted.items() if not job["schedule"].startswith("@")}
        assert len(fired) == 7, adopted
        time.sleep(max(0.0, boundary - time.time()))
        deadline, runs = boundary + WAIT_SECONDS, []
        while time.time() < deadline:
            daemon = daemon or _start_cron_unless_running()  # another test's daemon may have gone
            runs = [r for r in _runs(home) if r[1] != "running"]
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
        _stop_cron(daemon)


def _need_cron_as_root() -> None:
    """Fail in CI, skip elsewhere, without the cron daemon or root (the tests write /etc/cron.d)."""
    if shutil.which("cron") is None:
        need("the cron daemon", "apt-get install cron")
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the cron end-to-end test needs root (it writes /etc/cron.d) in CI", pytrace=False)
        pytest.skip("needs root: it writes a file into /etc/cron.d")


def _start_cron_unless_running() -> subprocess.Popen[bytes] | None:
    """Start `cron -f` when no cron daemon runs (return it), else None."""
    if cron_running():
        return None
    daemon = subprocess.Popen(["cron", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    assert daemon.poll() is None, "cron -f exited at once"
    return daemon


def _stop_cron(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is None:
        return
    daemon.terminate()
    daemon.wait(10)
    try:  # the daemon we started leaves its pidfile behind
        if int(PIDFILE.read_text().split()[0]) == daemon.pid:
            PIDFILE.unlink()
    except (OSError, ValueError, IndexError):
        pass


def _adopt_for_next_minute(env: dict[str, str], path: Path, out: Path) -> tuple[bytes, int, dict[str, dict[str, Any]]]:
    """Write the hand-written file for the next minute boundary at least LEAD seconds away and adopt it.

    Return (its bytes, the boundary, the adopted jobs by name). If the adoption ran past the
    boundary (a loaded machine), try the next one.
    """
    for _ in range(3):
        time.sleep(max(0.0, 2 - time.time() % 60))  # cron looks at the directory's mtime, in seconds
        boundary = (int(time.time() + LEAD) // 60 + 1) * 60
        fire = datetime.fromtimestamp(boundary, ZoneInfo(_host_zone()))
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


SYNC_APP = """from cronkit import Registry

registry = Registry()


@registry.task("0 3 1 1 *", name="yearly", environments=["*"], catchup="skip")
def yearly(ctx):
    return {{}}
{extra}"""
SYNC_ADDED = """

@registry.task("30 3 1 1 *", name="deployed", environments=["*"], catchup="skip")
def deployed(ctx):
    return {}
"""


@pytest.mark.slow
@pytest.mark.cron
def test_cron_check_line_syncs_the_block_after_a_deploy(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """auto_sync with the real cron daemon (issue 28): a deploy adds a task to the registry after
    `install`; at the next minute cron runs the block's own `cronkit check` line, which re-installs
    the block (the new task's line in the same cron.d file) and writes the audit row."""
    _need_cron_as_root()
    app = project(tmp_path, cronkit_env, "deploy", "syncapp")
    app.env["CRONKIT_AUTO_SYNC"] = "true"
    app.module.write_text(SYNC_APP.format(extra=""))
    daemon: subprocess.Popen[bytes] | None = None
    target = CRON_D / app.block_id
    try:
        daemon = _start_cron_unless_running()
        time.sleep(max(0.0, 2 - time.time() % 60))  # cron notices cron.d by its mtime, in seconds
        done = app.cronkit("install", "--target", "cron.d", "--id", app.block_id, "--user", "root")
        assert done.returncode == 0, done.stderr
        assert " run deployed " not in target.read_text() and " check\n" in target.read_text()
        app.module.write_text(SYNC_APP.format(extra=SYNC_ADDED))  # the deploy: nobody runs install
        deadline = (int(time.time()) // 60 + 1) * 60 + WAIT_SECONDS  # the check line fires at the next minute
        while time.time() < deadline and " run deployed " not in target.read_text():
            time.sleep(1)
        text = target.read_text()
        assert " run deployed --trigger cron\n" in text, f"cron's check did not sync within {WAIT_SECONDS}s"
        assert text == app.cronkit("render", "--target", "cron.d", "--id", app.block_id, "--user", "root").stdout
        audit = json.loads(app.cronkit("audit", "--json").stdout)
        assert [(a["action"], a["result"]) for a in audit] == [("auto_sync", "installed")]
        assert audit[0]["detail"].endswith("re-installed by auto_sync: added deployed")
        assert list((app.home / "backups").glob("cron.d-*.crontab"))
    finally:
        target.unlink(missing_ok=True)
        _stop_cron(daemon)
