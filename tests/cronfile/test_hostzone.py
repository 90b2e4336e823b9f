"""Host zone detection (issue 19) on fake root directories: what the cron daemon reads, never a guess."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cronkit.cronfile.drift import zone_drift
from cronkit.cronfile.hostzone import detect_host_zone
from cronkit.errors import ConfigError

TZDATA = Path("/usr/share/zoneinfo")
ZONES = ("UTC", "Etc/UTC", "Europe/Berlin", "Europe/Paris", "America/New_York", "Pacific/Chatham",
         "Australia/Lord_Howe")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root with /etc and a few tzdata files (copies of the system's)."""
    base = tmp_path / "root"
    (base / "etc").mkdir(parents=True)
    for name in ZONES:
        target = base / "usr/share/zoneinfo" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TZDATA / name, target)
    return base


def test_symlinked_localtime_names_the_zone(root: Path) -> None:
    os.symlink("/usr/share/zoneinfo/Pacific/Chatham", root / "etc/localtime")
    (root / "etc/timezone").write_text("Europe/Paris\n")  # stale: glibc reads /etc/localtime
    assert detect_host_zone(str(root)) == "Pacific/Chatham"


def test_copied_localtime_is_matched_against_tzdata(root: Path) -> None:
    shutil.copyfile(TZDATA / "Australia/Lord_Howe", root / "etc/localtime")
    assert detect_host_zone(str(root)) == "Australia/Lord_Howe"  # no /etc/timezone: was taken as UTC
    (root / "etc/timezone").write_text("Etc/UTC\n")  # contradicted by the bytes: the bytes win
    assert detect_host_zone(str(root)) == "Australia/Lord_Howe"


def test_copied_localtime_prefers_the_recorded_name_among_identical_files(root: Path) -> None:
    shutil.copyfile(TZDATA / "UTC", root / "etc/localtime")
    (root / "etc/timezone").write_text("Etc/UTC\n")
    assert detect_host_zone(str(root)) == "Etc/UTC"


def test_copied_localtime_matching_nothing_is_refused(root: Path) -> None:
    (root / "etc/localtime").write_bytes(b"TZif2 a zone nobody ships")
    with pytest.raises(ConfigError, match="matches no file of .*zoneinfo; pass --host-zone"):
        detect_host_zone(str(root))


def test_tz_of_etc_default_cron_wins_over_localtime(root: Path) -> None:
    os.symlink("/usr/share/zoneinfo/Etc/UTC", root / "etc/localtime")
    (root / "etc/default").mkdir()
    (root / "etc/default/cron").write_text('# cron options\nEXTRA_OPTS=""\nexport TZ=":America/New_York"\n')
    assert detect_host_zone(str(root)) == "America/New_York"
    (root / "etc/default/cron").write_text("TZ=Mars/Olympus\n")
    with pytest.raises(ConfigError, match=r"TZ='Mars/Olympus' in .*/etc/default/cron names no tzdata zone"):
        detect_host_zone(str(root))


def test_tz_of_the_running_daemon_wins(root: Path) -> None:
    os.symlink("/usr/share/zoneinfo/Etc/UTC", root / "etc/localtime")
    (root / "etc/default").mkdir()
    (root / "etc/default/cron").write_text("TZ=Europe/Paris\n")
    daemon = root / "proc/4242"
    daemon.mkdir(parents=True)
    (daemon / "comm").write_text("cron\n")
    (daemon / "environ").write_bytes(b"PATH=/usr/bin\0TZ=/usr/share/zoneinfo/Europe/Berlin\0LANG=C\0")
    other = root / "proc/17"
    other.mkdir()
    (other / "comm").write_text("bash\n")
    (other / "environ").write_bytes(b"TZ=Pacific/Chatham\0")
    assert detect_host_zone(str(root)) == "Europe/Berlin"
    # A daemon whose environment has no TZ: the files decide.
    (daemon / "environ").write_bytes(b"PATH=/usr/bin\0")
    assert detect_host_zone(str(root)) == "Europe/Paris"
    # The pid file names the daemon when there is one.
    (root / "run").mkdir()
    (root / "run/crond.pid").write_text("17\n")
    assert detect_host_zone(str(root)) == "Pacific/Chatham"


def test_no_localtime_is_utc_unless_etc_timezone_says_otherwise(root: Path) -> None:
    assert detect_host_zone(str(root)) == "UTC"
    (root / "etc/timezone").write_text("Europe/Berlin\n")
    with pytest.raises(ConfigError, match="no .*/etc/localtime .*says Europe/Berlin; pass --host-zone"):
        detect_host_zone(str(root))


def test_drift_flags_a_host_whose_zone_changed_since_install(root: Path) -> None:
    os.symlink("/usr/share/zoneinfo/Europe/Berlin", root / "etc/localtime")
    state = {"host_zone": "Europe/Berlin", "detected_zone": "Europe/Berlin"}
    assert zone_drift(state, str(root)) is None
    assert zone_drift({"host_zone": "Europe/Paris"}, str(root)) is None  # nothing detected at install: not judged
    (root / "etc/localtime").unlink()
    shutil.copyfile(TZDATA / "America/New_York", root / "etc/localtime")
    moved = zone_drift(state, str(root))
    assert moved is not None and (moved.kind, moved.installed, moved.expected) == (
        "host-zone", ["Europe/Berlin"], ["America/New_York"])
    assert moved.reason().startswith("crontab: the host zone is America/New_York now, Europe/Berlin at install")
    # Another name of the same tzdata file is not a change.
    (root / "etc/localtime").unlink()
    os.symlink("/usr/share/zoneinfo/Etc/UTC", root / "etc/localtime")
    assert zone_drift({"detected_zone": "UTC"}, str(root)) is None
    # A zone that cannot be told any more is flagged too.
    (root / "etc/localtime").unlink()
    (root / "etc/localtime").write_bytes(b"TZif garbage")
    unknown = zone_drift({"detected_zone": "UTC"}, str(root))
    assert unknown is not None and unknown.expected == ["unknown (cannot be detected)"]
