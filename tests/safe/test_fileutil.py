"""The one atomic file writer: whole file or old file, its mode whatever the umask, no temp left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cronkit.safe.files import write_atomic


def test_mode_is_exact_whatever_the_umask_and_text_keeps_foreign_bytes(tmp_path: Path) -> None:
    target = tmp_path / "f"
    old = os.umask(0o077)
    try:
        write_atomic(target, "caf\udce9\n", 0o644)  # a byte of a Latin-1 crontab, read with surrogateescape
    finally:
        os.umask(old)
    assert target.read_bytes() == b"caf\xe9\n"
    assert target.stat().st_mode & 0o777 == 0o644
    write_atomic(target, b"new", 0o600)
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()  # renaming a file over a directory fails
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        write_atomic(target, "text", sync_dir=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert (target / "keep").read_text() == "x"


def test_the_temp_file_is_dotted_so_cron_and_the_textfile_collector_skip_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "cronkit_x.prom", "m 1\n")
    monkeypatch.undo()
    assert len(seen) == 1 and seen[0].startswith(".cronkit_x.prom.") and seen[0].endswith(".tmp")
