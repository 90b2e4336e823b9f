"""`cronkit adopt` (SPEC 17): how a crontab is read, what is adopted and kept, the registry file it
writes, the install it makes, and `--undo` back to the same bytes (a cron.d file and a real user crontab)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cronkit.adopt.names import base_name, unique_name
from cronkit.adopt.parse import job_env, read_lines
from cronkit.adopt.plan import make_plan
from tests.crontabs import crontab_l, throwaway_user  # noqa: F401 - a fixture
from tests.fixturetypes import RunCli

CRONTAB = (
    "# m h dom mon dow user command\n"
    "MAILTO=ops@example.com\n"
    'PGPASSWORD = "hunter2-hunter2"\n'
    "\n"
    "30 2 * * mon-fri root pg_dump -Fc shop > /backups/shop.dump\n"
    "*/5 * * * * root curl -fsS https://example.com/ping >/dev/null 2>&1\n"
    "SHELL=/bin/bash\n"
    "@weekly root cd /srv/app && ./bin/cleanup.sh --old 'logs dir' 2>&1 | logger -t cleanup\n"
    "0 1 * * * root date +\\%F >> /var/log/dates.log   \n"
    "0 3 * * * root mail -s report ops % body\n"
    "@reboot root /usr/local/bin/warmup\n"
    "15 4 * * * www-data /usr/bin/php /var/www/artisan schedule:run\n"
    "0 5 * * sun root echo hi # weekly\r\n"
)


def test_lines_are_read_as_debian_cron_reads_them() -> None:
    lines = read_lines(CRONTAB, system=True)
    kinds = [line.kind for line in lines]
    assert kinds == ["comment", "env", "env", "blank", "job", "job", "env", "job", "job", "job", "job", "job", "job"]
    dump, curl, cleanup, date, mail = (lines[i] for i in (4, 5, 7, 8, 9))
    assert (dump.schedule, dump.user, dump.command) == ("30 2 * * mon-fri", "root", "pg_dump -Fc shop > /backups/shop.dump")
    assert dict(dump.env) == {"MAILTO": "ops@example.com", "PGPASSWORD": "hunter2-hunter2"}
    assert job_env(dump) == ("/bin/sh", {"MAILTO": "ops@example.com", "PGPASSWORD": "hunter2-hunter2",
                                         "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"})
    assert job_env(cleanup)[0] == "/bin/bash" and job_env(curl)[0] == "/bin/sh"
    assert date.command == "date +%F >> /var/log/dates.log   "  # `\%` is `%`; trailing blanks stay
    assert mail.stdin and mail.command == "mail -s report ops "
    assert lines[12].command == "echo hi # weekly\r"  # a CR belongs to the command, as cron reads it
    assert [line.kind for line in read_lines("# BEGIN cronkit:x\n0 1 * * * a\n# END cronkit:x\n* * * * * b\n",
                                             system=False)] == ["block", "block", "block", "job"]


def test_the_plan_adopts_jobs_and_keeps_the_rest_with_a_note() -> None:
    taken = {"curl-ping"}
    plan = make_plan(CRONTAB, system=True, run_as="root", taken=taken)
    assert [(job.line.number, job.name, job.schedule) for job in plan.adopted] == [
        (5, "pg-dump-shop", "30 2 * * mon-fri"),
        (6, "curl-ping-" + _hash4("curl -fsS https://example.com/ping >/dev/null 2>&1"), "*/5 * * * *"),
        (8, "cleanup-logs-dir", "@weekly"), (9, "date-f", "0 1 * * *"), (13, "echo-hi", "0 5 * * sun")]
    assert [(kept.line.number, kept.note.split(":")[0].split(",")[0]) for kept in plan.kept] == [
        (10, "uses % to feed standard input"), (11, "@reboot"), (12, "runs as www-data")]
    kept_lines = [line for line in CRONTAB.splitlines(keepends=True)
                  if not any(line == CRONTAB.splitlines(keepends=True)[j.line.number - 1] for j in plan.adopted)]
    assert plan.remaining == "".join(kept_lines)
    assert {"pg-dump-shop", "echo-hi"} <= taken


LINES = st.sampled_from([
    "# a comment", "", "   ", "MAILTO=x", 'A = "quoted value"', "0 1 * * * root echo hi", "@daily root run-parts",
    "*/5 * * * * root curl -s x\r", "0 3 * * * root mail % body", "@reboot root warm", "1 2 3 4 5 nobody id",
    "0 0 31 2 * root never", "# BEGIN cronkit:x", "0 9 * * mon-fri root cd /srv && make", "# END cronkit:x",
    "0 1 * * * root date +\\%F  ", "garbage line", "caf\udce9=1",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=20), st.booleans())
def test_adoption_takes_out_exactly_the_adopted_lines(lines: list[str], final_newline: bool) -> None:
    """Whatever the crontab, the text left is the original without the adopted lines, every other
    byte in place, and every adopted line is a job cron would run on a schedule cronkit takes."""
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    plan = make_plan(text, system=True, run_as="root", taken=set())
    spans = sorted((job.line.start, job.line.end) for job in plan.adopted)
    rebuilt, pos = [], 0
    for start, end in spans:
        rebuilt.append(text[pos:start])
        pos = end
    assert plan.remaining == "".join(rebuilt) + text[pos:]
    assert len({job.name for job in plan.adopted}) == len(plan.adopted)
    for job in plan.adopted:
        assert job.line.kind == "job" and job.line.user == "root" and not job.line.stdin
        assert job.schedule != "@reboot"


def _hash4(command: str) -> str:
    import hashlib

    return hashlib.sha256(command.encode()).hexdigest()[:4]


@pytest.mark.parametrize("command, name", [
    ("cd /srv/app && ./bin/backup.sh --full > /var/log/b.log 2>&1", "backup"),
    ("nice -n 10 /usr/local/bin/rotate-logs", "rotate-logs"),
    ("/usr/bin/php /var/www/artisan schedule:run", "artisan-schedule-run"),
    ("python3 -m app.jobs nightly", "app-jobs-nightly"),
    ("PGHOST=db pg_dump shop", "pg-dump-shop"),
    ("'unbalanced", "unbalanced"),
    (">/dev/null", "job"),
])
def test_names_come_from_the_command(command: str, name: str) -> None:
    assert base_name(command) == name
    assert unique_name(command, {name}) == unique_name(command, {name})  # stable
    assert unique_name(command, {name}) != name


@pytest.fixture
def env(cronkit_env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in cronkit_env.items() if k != "CRONKIT_TASKS"}


def test_adopt_a_cron_d_file_then_undo_it_to_the_same_bytes(run_cli: RunCli, env: dict[str, str], tmp_path: Path, home: Path) -> None:
    jobs = tmp_path / "jobs"
    original = CRONTAB.encode() + b"# caf\xe9 in latin-1\n"
    jobs.write_bytes(original)
    where = ("--target", "cron.d", "--file", str(jobs))
    dry = run_cli("adopt", "--dry-run", *where, env=env)
    assert dry.returncode == 0, dry.stderr
    assert jobs.read_bytes() == original and not (home / "adopted.py").exists()
    assert dry.stdout.startswith(f"--- {jobs} (now)\n+++ {jobs} (after)\n")
    assert "-30 2 * * mon-fri root pg_dump -Fc shop > /backups/shop.dump\n" in dry.stdout
    assert "+30 2 * * mon-fri root " in dry.stdout and " run pg-dump-shop --trigger cron\n" in dry.stdout
    assert "hunter2" not in dry.stdout + dry.stderr
    assert "would adopt line 5 as pg-dump-shop: 30 2 * * mon-fri pg_dump -Fc shop > /backups/shop.dump\n" in dry.stderr
    assert "kept line 11: @reboot: runs once at boot, not on a schedule; kept as it is\n" in dry.stderr

    done = run_cli("adopt", *where, env=env)
    assert done.returncode == 0, done.stderr
    module = (home / "adopted.py").read_text()
    assert module.startswith('"""Jobs adopted from ') and "registry.command(\n    \"@weekly\",\n" in module
    assert "    \"echo hi # weekly\\r\",\n" in module and (home / "adopted.py").stat().st_mode & 0o777 == 0o600
    after = jobs.read_bytes()
    assert b"pg_dump" not in after and b"# BEGIN cronkit:adopted\n" in after
    assert b"@reboot root /usr/local/bin/warmup\n" in after and b"\nSHELL=/bin/bash\n" in after
    listed = run_cli("list", "--json", env=env)  # the adopted file is loaded by itself
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["date-f"]["source"] == str(home / "adopted.py")
    assert rows["date-f"]["command"]["command"] == "date +%F >> /var/log/dates.log   "
    assert rows["cleanup-logs-dir"]["command"]["shell"] == "/bin/bash"
    assert run_cli("adopt", *where, env=env).stdout.endswith("no job line to adopt; nothing written\n")

    jobs.write_bytes(after + b"0 6 * * * root true\n")
    refused = run_cli("adopt", "--undo", *where, env=env)
    assert refused.returncode == 78 and "changed since it was adopted" in refused.stderr
    shown = run_cli("adopt", "--undo", "--dry-run", *where, env=env)  # the diff the message points to
    assert shown.returncode == 0 and "-0 6 * * * root true\n" in shown.stdout
    jobs.write_bytes(after)
    dry_undo = run_cli("adopt", "--undo", "--dry-run", *where, env=env)
    assert "+30 2 * * mon-fri root pg_dump -Fc shop > /backups/shop.dump\n" in dry_undo.stdout
    assert jobs.read_bytes() == after
    undone = run_cli("adopt", "--undo", *where, env=env)
    assert undone.returncode == 0, undone.stderr
    assert jobs.read_bytes() == original
    assert not (home / "adopted.py").exists() and (home / "adopted.py.undone").exists()
    assert run_cli("adopt", "--undo", *where, env=env).returncode == 78  # nothing recorded any more


def test_adopt_runs_into_an_existing_registry_and_refuses_a_file_it_did_not_write(
        run_cli: RunCli, env: dict[str, str], tmp_path: Path, home: Path) -> None:
    own = tmp_path / "own.py"
    own.write_text("from cronkit import Registry\nregistry = Registry()\n"
                   "registry.command('0 0 * * *', 'true', name='date-f', environments='*')\n")
    jobs = tmp_path / "jobs"
    jobs.write_text("0 1 * * * root date +\\%F\n")
    where = ("--target", "cron.d", "--file", str(jobs))
    refused = run_cli("adopt", *where, "--into", str(own), env=env)
    assert refused.returncode == 78 and "was not written by cronkit adopt" in refused.stderr
    done = run_cli("adopt", *where, env={**env, "CRONKIT_TASKS": str(own)})
    assert done.returncode == 0, done.stderr
    assert "as date-f-" in done.stdout  # the name is taken by the registry: made unique
    assert "block own in" in done.stdout
    names = [row["name"] for row in json.loads(run_cli("list", "--json", env={**env, "CRONKIT_TASKS": str(own)}).stdout)]
    assert names[0] == "date-f" and names[1].startswith("date-f-")


def test_undo_leaves_the_block_installed_before_able_to_start(
        run_cli: RunCli, run_process: RunCli, env: dict[str, str], tmp_path: Path, home: Path) -> None:
    """Adopt into a block installed from a registry of one's own, undo: the block's cron lines still
    start (its run settings never named the adopted file, which the `adopted` setting loads)."""
    own = tmp_path / "own.py"
    own.write_text("from cronkit import Registry\nregistry = Registry()\n"
                   "registry.command('* * * * *', 'true', name='tick', environments='*')\n")
    cron_d = tmp_path / "cron.d"
    cron_d.mkdir()
    jobs = cron_d / "own"
    mine = {**env, "CRONKIT_TASKS": str(own), "CRONKIT_CRON_D": str(cron_d)}
    assert run_cli("install", "--target", "cron.d", "--user", "root", "--id", "own", "--host-zone", "UTC",
                   env=mine).returncode == 0
    jobs.write_text("0 1 * * * root date\n" + jobs.read_text())
    where = ("--target", "cron.d", "--file", str(jobs))
    assert run_cli("adopt", *where, env=mine).returncode == 0
    config = home / "cron" / "own.toml"
    assert "adopted.py" not in config.read_text()
    assert run_cli("adopt", "--undo", *where, env=mine).returncode == 0
    bare = {"PATH": env["PATH"], "HOME": str(tmp_path)}
    started = run_process("--config", str(config), "run", "tick", "--trigger", "cron", env=bare)
    assert started.returncode == 0, started.stderr


def test_adopt_a_user_crontab_with_a_cr_and_undo(run_cli: RunCli, env: dict[str, str], throwaway_user: str) -> None:  # noqa: F811
    user = throwaway_user
    original = "MAILTO=''\n# nightly\r\n0 1 * * * date +\\%s > /dev/null # x\r\n@reboot true\n"
    subprocess.run(["crontab", "-u", user, "-"], input=original, text=True, check=True)
    spool = Path(f"/var/spool/cron/crontabs/{user}")
    done = run_cli("adopt", "--user", user, env=env)
    assert done.returncode == 0, done.stderr
    assert "adopted line 3 as date-s: 0 1 * * * date +%s > /dev/null # x\\r\n" in done.stdout  # the CR shown
    assert "date +" not in (crontab_l(user) or "")
    assert run_cli("adopt", "--undo", "--user", user, env=env).returncode == 0
    # The spool file's three header lines say when it was installed; the crontab is what follows.
    assert spool.read_bytes().split(b"\n", 3)[3] == original.encode()
