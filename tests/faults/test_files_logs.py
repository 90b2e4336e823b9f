"""Faults of daily-log-pruning: rotation feeding deletion, symlinked log directories."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronkit.errors import ConfigError
from cronkit.tasks.logs.task import daily_log_pruning
from tests.fixturetypes import RunCli
from tests.tasks.test_logs import DAY, MB, age, make_ctx, snapshot, write


def sparse_log(path: Path, size: int, age_days: float) -> Path:
    """A live log of `size` bytes (head and tail real, a hole between) last written long ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(b"first line\n")
        fh.truncate(size)
        fh.seek(size - 10)
        fh.write(b"last line\n")
    age(path, age_days)
    return path


def test_files_stale_oversized_live_log_survives_its_rotation(tmp_path: Path) -> None:
    """Scenario: a 137 MB live log last written 40 days ago, retention 30 days, max 100 MB.
    Promise: rotation copies it aside and the same run deletes nothing; the copy is dated at
    its rotation and lives a full retention period before a later run deletes it."""
    logs = tmp_path / "logs"
    live = sparse_log(logs / "api.log", 137 * MB, age_days=40)
    now = datetime.now(UTC)
    started = time.time()

    first = daily_log_pruning(make_ctx(tmp_path, logs, now=now, retention_days=30,
                                       max_file_size_mb=100, compress_old_logs=False))

    assert first["files_rotated"] == 1 and first["files_deleted"] == 0
    (copy,) = logs.glob("api.log-*")
    assert copy.stat().st_size == 137 * MB and live.stat().st_size == 0
    with copy.open("rb") as fh:
        assert fh.read(11) == b"first line\n"
        fh.seek(137 * MB - 10)
        assert fh.read() == b"last line\n"
    assert copy.stat().st_mtime >= started - 1  # dated at its rotation, not 40 days ago

    # The next day's run keeps it; one after the retention period has passed deletes it.
    second = daily_log_pruning(make_ctx(tmp_path, logs, now=now + timedelta(days=1),
                                        retention_days=30, compress_old_logs=False))
    assert second["files_deleted"] == 0 and copy.exists()
    age(copy, 31)  # a month later (the in-use check reads the wall clock, so age the file)
    late = daily_log_pruning(make_ctx(tmp_path, logs, retention_days=30, compress_old_logs=False))
    assert late["deleted_by_retention"] == 1 and not copy.exists()


def test_files_rotation_with_max_files_zero_keeps_the_copy_for_one_run(tmp_path: Path) -> None:
    """Scenario: max_files = 0 (keep no rotated files) and a live log over max_file_size_mb.
    Promise: the copy the rotation made is not counted against max_files in the same run; the
    next run applies the cap to it."""
    logs = tmp_path / "logs"
    write(logs / "worker.log", b"w" * (2 * MB))
    older = write(logs / "worker.log.1", b"old\n", age_days=2)

    result = daily_log_pruning(make_ctx(tmp_path, logs, max_files=0, max_file_size_mb=1,
                                        compress_old_logs=False))

    assert result["files_rotated"] == 1
    assert result["deleted_by_max_files"] == 1 and not older.exists()  # it predates the run
    (copy,) = logs.glob("worker.log-*")
    assert copy.stat().st_size == 2 * MB
    os.utime(copy, (time.time() - 2 * DAY,) * 2)  # past the in-use window
    again = daily_log_pruning(make_ctx(tmp_path, logs, max_files=0, compress_old_logs=False))
    assert again["deleted_by_max_files"] == 1 and not copy.exists()


def test_files_dry_run_of_a_stale_rotation_deletes_nothing_either(tmp_path: Path) -> None:
    """Scenario: --dry-run over a stale oversized live log.
    Promise: the dry run reports the rotation and no deletion, like the real run would."""
    logs = tmp_path / "logs"
    sparse_log(logs / "api.log", 3 * MB, age_days=40)
    before = snapshot(logs)

    result = daily_log_pruning(make_ctx(tmp_path, logs, dry_run=True, retention_days=30,
                                        max_file_size_mb=1))

    assert result["files_rotated"] == 1 and result["files_deleted"] == 0
    assert snapshot(logs) == before


@pytest.mark.parametrize("suffix", ["", "/"])
def test_files_symlinked_log_directory_is_refused(tmp_path: Path, suffix: str) -> None:
    """Scenario: CRONKIT_LOG_DIR is itself a symlink to another directory (with or without a
    trailing slash). Promise: the task refuses with a one-line ConfigError naming the link and
    its target; nothing in the target is truncated, rotated or deleted."""
    target = tmp_path / "elsewhere"
    write(target / "db.log.1", b"precious\n", age_days=90)
    sparse_log(target / "db.log", 3 * MB, age_days=90)
    link = tmp_path / "logs"
    link.symlink_to(target)
    before = snapshot(target)

    with pytest.raises(ConfigError) as err:
        daily_log_pruning(make_ctx(tmp_path, Path(str(link) + suffix), max_file_size_mb=1))

    message = str(err.value)
    assert "is a symlink" in message and str(target) in message and "\n" not in message
    assert snapshot(target) == before


def test_files_dangling_symlink_log_directory_is_refused(tmp_path: Path) -> None:
    """Scenario: CRONKIT_LOG_DIR is a symlink to nothing.
    Promise: refused as a symlink, not mistaken for a missing (not yet created) directory."""
    link = tmp_path / "logs"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="is a symlink"):
        daily_log_pruning(make_ctx(tmp_path, link))


def test_files_symlinked_log_directory_through_the_cli(run_cli: RunCli, tmp_path: Path) -> None:
    """Scenario: `cronkit run daily-log-pruning` with a symlinked CRONKIT_LOG_DIR.
    Promise: the run fails as a configuration error (exit 78) with a one-line message, no
    traceback, and the link's target is untouched."""
    target = tmp_path / "elsewhere"
    write(target / "db.log.1", b"precious\n", age_days=90)
    link = tmp_path / "logs"
    link.symlink_to(target)
    before = snapshot(target)

    proc = run_cli("run", "daily-log-pruning",
                   env={"CRONKIT_LOG_DIR": str(link), "CRONKIT_ENV": "production", "CRONKIT_TASKS": "cronkit.tasks"})

    assert proc.returncode == 78, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert snapshot(target) == before
    assert "is a symlink" in proc.stderr and str(target) in proc.stderr


def test_files_symlinks_inside_the_log_directory_are_left_alone(tmp_path: Path) -> None:
    """Scenario: links inside the log directory: a stale big log and an old rotated file
    outside, a subdirectory link out, a link to a file inside.
    Promise: no link is followed; targets outside keep every byte; links are reported."""
    logs = tmp_path / "logs"
    outside = tmp_path / "outside"
    sparse_log(outside / "big.log", 3 * MB, age_days=60)
    write(outside / "old.log.1", b"keep\n", age_days=60)
    write(outside / "dir" / "x.log.2", b"keep\n", age_days=60)
    inside = write(logs / "real.log.1", b"r\n", age_days=1)
    (logs / "big.log").symlink_to(outside / "big.log")
    (logs / "old.log.1").symlink_to(outside / "old.log.1")
    (logs / "dir").symlink_to(outside / "dir")
    (logs / "alias.log.1").symlink_to("real.log.1")
    before = snapshot(outside)

    result = daily_log_pruning(make_ctx(tmp_path, logs, retention_days=30, max_file_size_mb=1))

    assert snapshot(outside) == before
    assert not inside.exists() and (logs / "real.log.1.gz").exists()  # a rotated file inside: compressed
    reasons = {item["path"]: item["reason"] for item in result["skipped_files"]}
    assert reasons == {"big.log": "symlink_outside", "old.log.1": "symlink_outside",
                       "dir": "symlink_outside", "alias.log.1": "symlink"}
    assert result["files_deleted"] == 0 and result["files_rotated"] == 0
