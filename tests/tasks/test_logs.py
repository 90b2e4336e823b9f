"""daily-log-pruning against real files: links in and out, live writers, sparse files, caps."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cronkit import runlog
from cronkit.config.settings import load_settings
from cronkit.context import TaskContext
from cronkit.errors import ConfigError
from cronkit.registry import task_config
from cronkit.tasks import registry
from cronkit.tasks.logs.names import classify
from cronkit.tasks.logs.task import daily_log_pruning
from tests.fixturetypes import RunCli
from tests.runlog.outcomes import finish_run

MB = 1024 * 1024
DAY = 86400


def make_ctx(home: Path, log_dir: Path, *, dry_run: bool = False, now: datetime | None = None,
             **config: Any) -> TaskContext:
    task = registry["daily-log-pruning"]
    settings = load_settings(environ={"CRONKIT_HOME": str(home), "CRONKIT_LOG_DIR": str(log_dir)})
    return TaskContext(task=task.name, settings=settings, config=task_config(task, config),
                       now=now or datetime.now(UTC), dry_run=dry_run)


def write(path: Path, data: bytes | str = b"line\n", age_days: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if age_days:
        age(path, age_days)
    return path


def age(path: Path, days: float) -> None:
    when = time.time() - days * DAY
    os.utime(path, (when, when), follow_symlinks=False)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Map every path under root (links not followed) to (size, mtime_ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.mark.parametrize("name,expected", [
    ("app.log", None),
    ("error_log", None),
    ("app.log.1", ("app.log", False)),
    ("app.log.12.gz", ("app.log", True)),
    ("app.log-20240501", ("app.log", False)),
    ("app.log-20240501-040000", ("app.log", False)),
    ("app.log-20240501-040000.1", ("app.log", False)),
    ("app.log.2024-05-01_13", ("app.log", False)),
    ("app-2024-05-01.log", ("app.log", False)),
    ("app.log.gz", ("app.log", True)),
    ("app.log.xz", ("app.log", True)),
])
def test_classify_names(name: str, expected: tuple[str, bool] | None) -> None:
    assert classify(name) == expected


def test_retention_deletes_rotated_files_on_the_old_side_only(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    old = write(logs / "app.log.3.gz", b"x" * 10, age_days=30.01)
    young = write(logs / "app.log.2.gz", b"y" * 10, age_days=29.99)
    stale_live = write(logs / "retired-service.log", "old live log\n", age_days=400)
    nested_old = write(logs / "cronkit" / "hourly-metrics.log.1.gz", b"z", age_days=31)
    nested_live = write(logs / "cronkit" / "hourly-metrics.log", "live\n", age_days=31)

    result = daily_log_pruning(make_ctx(tmp_path, logs))

    assert not old.exists() and not nested_old.exists()
    assert young.exists() and stale_live.exists() and nested_live.exists()
    assert result["files_deleted"] == 2
    assert result["bytes_deleted"] == 11
    assert result["deleted_by_retention"] == 2
    json.dumps(result)


def test_compresses_rotated_logs_atomically_and_keeps_their_age(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    body = b"".join(b"request %d ok\n" % i for i in range(5000))
    rotated = write(logs / "api.log.1", body, age_days=2)
    mtime = rotated.stat().st_mtime_ns
    already = write(logs / "api.log.2.gz", gzip.compress(b"older\n"), age_days=3)
    xz = write(logs / "api.log.3.xz", b"\xfd7zXZ-not-really", age_days=4)
    os.chmod(rotated, 0o640)

    result = daily_log_pruning(make_ctx(tmp_path, logs))

    gz = logs / "api.log.1.gz"
    assert not rotated.exists()
    assert gzip.decompress(gz.read_bytes()) == body
    assert gz.stat().st_mtime_ns == mtime
    assert gz.stat().st_mode & 0o777 == 0o640
    assert gzip.decompress(already.read_bytes()) == b"older\n"
    assert xz.read_bytes() == b"\xfd7zXZ-not-really"
    assert result["files_compressed"] == 1
    assert result["bytes_compressed"] == len(body)
    assert result["bytes_after_compression"] == gz.stat().st_size
    assert not [p for p in logs.iterdir() if p.name.startswith(".cronkit-tmp-")]


def test_finishes_a_compression_interrupted_between_link_and_unlink(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    done = write(logs / "w.log.1", b"same\n" * 100, age_days=2)
    write(logs / "w.log.1.gz", gzip.compress(b"same\n" * 100), age_days=2)
    differs = write(logs / "w.log.2", b"newer content\n", age_days=3)
    write(logs / "w.log.2.gz", gzip.compress(b"other content\n"), age_days=3)
    stale_temp = write(logs / ".cronkit-tmp-0123456789abcdef", b"partial", age_days=1)

    result = daily_log_pruning(make_ctx(tmp_path, logs))

    assert not done.exists() and (logs / "w.log.1.gz").exists()
    assert differs.exists() and (logs / "w.log.2.gz").exists()
    assert result["skipped"]["compressed_copy_exists"] == 1
    assert not stale_temp.exists()


def test_max_files_keeps_the_newest_rotated_files_per_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for n in range(1, 16):
        write(logs / f"web.log.{n}.gz", b"w", age_days=n)
    for n in range(1, 4):
        write(logs / f"worker.log.{n}.gz", b"k", age_days=n + 20)
    write(logs / "web.log", "live\n")

    result = daily_log_pruning(make_ctx(tmp_path, logs, max_files=10))

    left = sorted(int(p.name.split(".")[2]) for p in logs.glob("web.log.*.gz"))
    assert left == list(range(1, 11))
    assert len(list(logs.glob("worker.log.*.gz"))) == 3
    assert result["deleted_by_max_files"] == 5
    assert (logs / "web.log").exists()


def test_never_follows_links_and_reports_those_pointing_out(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    outside = tmp_path / "outside"
    victim_old = write(outside / "victim.log.1", b"keep me\n", age_days=90)
    victim_big = write(outside / "huge.log", b"v" * (2 * MB))
    write(outside / "deep" / "x.log.1", b"keep\n", age_days=90)
    inside_target = write(logs / "app.log.1.gz", b"i", age_days=5)
    logs.joinpath("link-in.log.1").symlink_to("app.log.1.gz")
    logs.joinpath("link-out.log.1").symlink_to(victim_old)
    logs.joinpath("big-out.log").symlink_to(victim_big)
    logs.joinpath("escape").symlink_to("..")
    logs.joinpath("sub").mkdir()
    logs.joinpath("sub", "up").symlink_to("../../outside/deep")
    logs.joinpath("dangling.log.1").symlink_to("nowhere")
    for link in logs.rglob("*"):
        if link.is_symlink():
            age(link, 90)
    before = snapshot(outside)

    result = daily_log_pruning(make_ctx(tmp_path, logs, max_file_size_mb=1))

    assert snapshot(outside) == before
    assert victim_old.read_bytes() == b"keep me\n"
    assert victim_big.stat().st_size == 2 * MB
    assert inside_target.exists()
    assert all((logs / n).is_symlink() for n in ("link-in.log.1", "link-out.log.1", "big-out.log", "escape"))
    reported = {item["path"]: item for item in result["skipped_files"]}
    assert reported["escape"]["reason"] == "symlink_outside"
    assert reported["escape"]["detail"] == ".."
    assert reported["sub/up"]["reason"] == "symlink_outside"
    assert reported["link-out.log.1"]["reason"] == "symlink_outside"
    assert reported["big-out.log"]["reason"] == "symlink_outside"
    assert reported["link-in.log.1"]["reason"] == "symlink"
    assert result["skipped"]["symlink_outside"] == 4
    assert result["files_deleted"] == 0 and result["files_rotated"] == 0


def test_hard_link_to_an_outside_file_is_never_truncated_or_copied(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    outside = write(tmp_path / "private" / "shadow", b"s" * (2 * MB))
    logs.mkdir()
    os.link(outside, logs / "innocent.log")
    os.link(outside, logs / "innocent.log.1")
    age(outside, 2)

    result = daily_log_pruning(make_ctx(tmp_path, logs, max_file_size_mb=1))

    assert outside.stat().st_size == 2 * MB
    assert not list(logs.glob("*.gz")) and not list(logs.glob("innocent.log-*"))
    assert result["skipped"]["hard_link"] == 2


def test_rotates_a_sparse_live_log_by_copy_truncate(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    big = logs / "sparse.log"
    with big.open("wb") as fh:
        fh.write(b"head\n")
        fh.truncate(200 * MB)
        fh.seek(200 * MB - 5)
        fh.write(b"tail\n")
    before = big.stat()

    result = daily_log_pruning(make_ctx(tmp_path, logs, max_file_size_mb=100, compress_old_logs=False))

    copies = list(logs.glob("sparse.log-*"))
    assert len(copies) == 1
    copy = copies[0]
    assert copy.stat().st_size == 200 * MB
    assert copy.stat().st_blocks * 512 < 10 * MB  # the holes stayed holes
    with copy.open("rb") as fh:
        assert fh.read(5) == b"head\n"
        fh.seek(200 * MB - 5)
        assert fh.read() == b"tail\n"
    assert big.stat().st_size == 0 and big.stat().st_ino == before.st_ino
    assert copy.stat().st_mtime_ns >= before.st_mtime_ns  # dated at its rotation
    assert result["files_rotated"] == 1 and result["bytes_rotated"] == 200 * MB


def test_a_writer_keeps_appending_through_rotation_and_its_files_are_never_removed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    live = write(logs / "worker.log", b"#" * (MB + 10) + b"\n")
    # A process appending to the live log the whole time (O_APPEND, like every logger).
    appender = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "with open(sys.argv[1], 'a', buffering=1) as fh:\n"
        "    i = 0\n"
        "    while True:\n"
        "        fh.write(f'line {i}\\n'); i += 1; time.sleep(0.002)\n"
    ), str(live)])
    # A process holding a rotated-looking file open for writing but quiet for 40 days
    # (logrotate renamed its file; it has not reopened yet): only /proc can tell.
    held = write(logs / "daemon.log.1", b"old content\n")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "fh = open(sys.argv[1], 'a')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    ), str(held)], stdout=subprocess.PIPE, text=True)
    # And one appending right now to a rotated-looking name.
    busy = write(logs / "busy.log.1", b"")
    busy_writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "with open(sys.argv[1], 'a', buffering=1) as fh:\n"
        "    while True:\n"
        "        fh.write('x\\n'); time.sleep(0.01)\n"
    ), str(busy)])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        age(held, 40)
        time.sleep(0.2)

        result = daily_log_pruning(make_ctx(tmp_path, logs, max_file_size_mb=1))

        assert held.exists() and held.read_bytes() == b"old content\n"
        assert busy.exists() and not (logs / "busy.log.1.gz").exists()
        reasons = {item["path"]: item["reason"] for item in result["skipped_files"]}
        assert reasons["daemon.log.1"] == "open_for_writing"
        assert reasons["busy.log.1"] == "recently_modified"
        assert result["files_rotated"] == 1
        size_after = live.stat().st_size
        deadline = time.monotonic() + 10
        while live.stat().st_size <= size_after + 100 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        for proc in (appender, holder, busy_writer):
            proc.kill()
            proc.wait()
    assert live.stat().st_size > size_after  # the writer went on writing to the live file
    archives = list(logs.glob("worker.log-*.gz"))
    assert len(archives) == 1
    rotated = gzip.decompress(archives[0].read_bytes())
    assert rotated.startswith(b"#" * (MB + 10) + b"\nline 0\n")
    text = live.read_bytes()
    assert b"\0" not in text and b"#" not in text  # appends went to the start, no hole
    assert text.startswith(b"line ")


def test_dry_run_counts_what_a_real_run_does_and_changes_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write(logs / "a.log.9.gz", b"o" * 100, age_days=45)
    write(logs / "a.log.1", b"rotated\n" * 50, age_days=1)
    for n in range(2, 14):
        write(logs / f"a.log.{n}.gz", b"c", age_days=n)
    write(logs / "big.log", b"b" * (MB + 1))
    before = snapshot(logs)

    dry = daily_log_pruning(make_ctx(tmp_path, logs, dry_run=True, max_file_size_mb=1))
    assert snapshot(logs) == before
    real = daily_log_pruning(make_ctx(tmp_path, logs, max_file_size_mb=1))

    for key in ("files_deleted", "bytes_deleted", "files_compressed", "files_rotated", "bytes_rotated",
                "deleted_by_retention", "deleted_by_max_files"):
        assert dry[key] == real[key], key
    assert dry["dry_run"] is True and real["dry_run"] is False
    assert real["files_rotated"] == 1 and real["files_compressed"] == 2


def test_prunes_the_run_log_by_its_retention(tmp_path: Path) -> None:
    from cronkit.runlog.times import to_ms

    logs = tmp_path / "logs"
    logs.mkdir()
    now = datetime.now(UTC)
    ctx = make_ctx(tmp_path, logs, now=now)
    store = runlog.open(ctx.settings.db_url, create=True)
    for days in (91, 89):
        started = to_ms(now - timedelta(days=days))
        run_id = store.start_run(task="hourly-metrics", trigger="cron", started_at=started, user="t")
        finish_run(store, run_id, status="succeeded", finished_at=started + 1000, duration_ms=1000,
                         attempts=1, exit_code=0)
    store.close()

    dry = daily_log_pruning(make_ctx(tmp_path, logs, now=now, dry_run=True))
    assert dry["runlog_runs_pruned"] == 1
    assert daily_log_pruning(ctx)["runlog_runs_pruned"] == 1
    assert daily_log_pruning(make_ctx(tmp_path, logs, now=now))["runlog_runs_pruned"] == 0


def test_missing_log_dir_and_bad_settings(tmp_path: Path) -> None:
    result = daily_log_pruning(make_ctx(tmp_path, tmp_path / "nope"))
    assert result["log_dir_missing"] is True and result["files_deleted"] == 0
    with pytest.raises(ConfigError, match="max_files"):
        daily_log_pruning(make_ctx(tmp_path, tmp_path, max_files=-1))


def test_cli_run_prunes_the_log_dir_and_its_own_logs(run_cli: RunCli, home: Path, tmp_path: Path) -> None:
    logs = tmp_path / "var-log"
    old = write(logs / "api.log.4.gz", b"o", age_days=45)
    own_old = write(logs / "cronkit" / "hourly-metrics.log.2.gz", b"o", age_days=45)
    kept = write(logs / "api.log.1.gz", b"k", age_days=3)
    env = {"CRONKIT_LOG_DIR": str(logs), "CRONKIT_ENV": "production"}

    dry = run_cli("run", "daily-log-pruning", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["result"]["files_deleted"] == 2 and old.exists()

    proc = run_cli("run", "daily-log-pruning", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["result"]
    assert result["files_deleted"] == 2 and result["dry_run"] is False
    assert not old.exists() and not own_old.exists() and kept.exists()
