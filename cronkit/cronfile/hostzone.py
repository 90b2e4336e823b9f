"""The zone the host's cron daemon runs in, read where the daemon (glibc) reads it.

In order: `TZ` in the running daemon's environment (/proc/<pid>/environ, when readable), `TZ`
in /etc/default/cron (the daemon's environment file under systemd and its init script), then
/etc/localtime: a symlink names its zone; a copied file is compared byte for byte with the
tzdata files (/usr/share/zoneinfo), /etc/timezone's name first. Nothing is guessed: a copied
/etc/localtime that matches no tzdata file, a TZ that names no zone, or an /etc/timezone that
contradicts a missing /etc/localtime (glibc then runs in UTC) raise ConfigError asking for
--host-zone. With neither /etc/localtime nor anything else, glibc's default, UTC, is the answer.
`TZ` of the invoking shell is not consulted: the daemon does not inherit it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cronkit.errors import ConfigError

ZONEINFO = "usr/share/zoneinfo"
DAEMON_NAMES = ("cron", "crond")
PID_FILES = ("run/crond.pid", "var/run/crond.pid")
# Trees of tzdata that are not zone names (leap-second variants, POSIX copies) or not zones.
NOT_ZONES = ("posix/", "right/", "posixrules", "localtime", "Factory", "leapseconds", "tzdata.zi",
             "leap-seconds.list", "zone.tab", "zone1970.tab", "iso3166.tab", "zonenow.tab", "SECURITY")
ASK = "pass --host-zone"


def _zone_file(root: Path, name: str) -> Path | None:
    """Return the tzdata file of an IANA name, if the name is one (no `..`, a TZif file)."""
    if not name or name.startswith("/") or ".." in name.split("/"):
        return None
    path = root / ZONEINFO / name
    try:
        with open(path, "rb") as fh:
            return path if fh.read(4) == b"TZif" else None
    except OSError:
        return None


def _tz_value(root: Path, value: str, where: str) -> str:
    """Return the zone a TZ value names (`Europe/Paris`, `:Europe/Paris`, a zoneinfo path)."""
    name = value.strip().strip("\"'").lstrip(":")
    if "zoneinfo/" in name:
        name = name.split("zoneinfo/", 1)[1].strip("/")
    if _zone_file(root, name) is None:
        raise ConfigError(f"host zone: TZ={value.strip()!r} in {where} names no tzdata zone; {ASK}")
    return name


def _daemon_tz(root: Path) -> tuple[str, str] | None:
    """Return (TZ, where) from the running cron daemon's environment, when it can be read."""
    pids: list[str] = []
    for pid_file in PID_FILES:
        try:
            pids.append((root / pid_file).read_text().strip())
        except OSError:
            continue
    proc = root / "proc"
    if not pids:
        try:
            entries = [e for e in os.listdir(proc) if e.isdigit()]
        except OSError:
            entries = []
        for entry in entries:
            try:
                if (proc / entry / "comm").read_text().strip() in DAEMON_NAMES:
                    pids.append(entry)
            except OSError:
                continue
    for pid in pids:
        try:
            environ = (proc / pid / "environ").read_bytes()
        except OSError:
            continue  # another user's daemon: its environment is not ours to read
        for item in environ.split(b"\0"):
            if item.startswith(b"TZ="):
                return item[3:].decode(errors="replace"), f"the cron daemon's environment (pid {pid})"
        return None  # read, without TZ: the files below decide
    return None


def _default_cron_tz(root: Path) -> str | None:
    """Return TZ as /etc/default/cron sets it (shell assignments, `export` allowed), else None."""
    try:
        text = (root / "etc/default/cron").read_text()
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        words = line.split("#", 1)[0].strip().removeprefix("export ").strip()
        if words.startswith("TZ="):
            found = words[3:]
    return found


def _zone_names(root: Path) -> list[str]:
    """Return every zone name in the tzdata tree, sorted."""
    base = root / ZONEINFO
    names: list[str] = []
    for directory, subdirs, files in os.walk(base):
        relative = os.path.relpath(directory, base)
        prefix = "" if relative == "." else relative + "/"
        subdirs[:] = [d for d in subdirs if f"{prefix}{d}/" not in NOT_ZONES]
        names.extend(prefix + f for f in files if prefix + f not in NOT_ZONES and not f.endswith(".tab"))
    return sorted(names)


def _copied_localtime(root: Path, data: bytes) -> str:
    """Return the zone whose tzdata file equals a copied /etc/localtime; ConfigError if none does."""
    try:
        recorded = (root / "etc/timezone").read_text().strip()
    except OSError:
        recorded = ""
    candidates = [recorded] if recorded else []
    for name in candidates + _zone_names(root):
        path = _zone_file(root, name)
        try:
            if path is not None and path.stat().st_size == len(data) and path.read_bytes() == data:
                return name
        except OSError:
            continue
    raise ConfigError(
        f"host zone: {root / 'etc/localtime'} is a copy that matches no file of {root / ZONEINFO}; {ASK}"
    )


def detect_host_zone(root: str = "/") -> str:
    """Return the IANA zone the host's cron daemon runs in; ConfigError when it cannot be told."""
    base = Path(root)
    daemon = _daemon_tz(base)
    if daemon is not None:
        return _tz_value(base, *daemon)
    configured = _default_cron_tz(base)
    if configured is not None:
        return _tz_value(base, configured, str(base / "etc/default/cron"))
    localtime = base / "etc/localtime"
    try:
        target = os.readlink(localtime)
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        name = target.split("zoneinfo/", 1)[1].strip("/")
        if _zone_file(base, name) is not None or not (base / ZONEINFO).exists():
            return name
        raise ConfigError(f"host zone: {localtime} points to {target}, which is no tzdata zone; {ASK}")
    try:
        data = localtime.read_bytes()
    except OSError:
        data = None
    if data is not None:
        return _copied_localtime(base, data)
    try:
        recorded = (base / "etc/timezone").read_text().strip()
    except OSError:
        recorded = ""
    if recorded and recorded not in ("UTC", "Etc/UTC"):
        raise ConfigError(
            f"host zone: no {localtime} (cron runs in UTC) but {base / 'etc/timezone'} says {recorded}; {ASK}"
        )
    return "UTC"


def detected_zone(root: str = "/") -> str | None:
    """Return the detected host zone, None when it cannot be told (for install state and drift)."""
    try:
        return detect_host_zone(root)
    except ConfigError:
        return None


def same_zone(first: str, second: str, root: str = "/") -> bool:
    """Return whether two zone names are one zone: equal names, or byte-identical tzdata files."""
    if first == second:
        return True
    base = Path(root)
    one, other = _zone_file(base, first), _zone_file(base, second)
    try:
        return one is not None and other is not None and one.read_bytes() == other.read_bytes()
    except OSError:
        return False
