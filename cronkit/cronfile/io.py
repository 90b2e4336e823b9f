"""Read and write a crontab: a user's through the `crontab` command, or a file in cron.d.

The crontab command comes from CRONKIT_CRONTAB_COMMAND (default `crontab`) and the cron.d
directory from CRONKIT_CRON_D (default /etc/cron.d). A cron.d file is replaced atomically.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cronkit.config.settings import Settings
from cronkit.config.values import DEFAULT_CRONTAB_COMMAND
from cronkit.cronfile.render import check_target, cron_d_name
from cronkit.errors import ConfigError, ServiceUnavailable
from cronkit.host import invoking_user
from cronkit.safe.files import write_atomic


class CrontabUnavailable(ServiceUnavailable):
    """The crontab command is missing or failed, or the cron.d file cannot be read or written."""

    what_to_do = ("Install cron (`apt-get install cron`), check the user and the cron.d directory's "
                  "permissions (cron.d needs root).")


@dataclass(frozen=True)
class Location:
    """A crontab: a user's (through the crontab command) or a file in the cron.d directory."""

    target: str
    user: str | None = None  # user target: `crontab -u USER`; None: the invoking user
    path: Path | None = None  # cron.d target: the file
    command: tuple[str, ...] = DEFAULT_CRONTAB_COMMAND  # user target: the crontab command's words

    def describe(self) -> str:
        """Return how messages name this crontab."""
        if self.target == "cron.d":
            return str(self.path)
        return f"the crontab of {self.user}" if self.user else "your crontab"

    @property
    def slug(self) -> str:
        """Return a file-name-safe name of this crontab (for its backups)."""
        if self.target == "cron.d":
            assert self.path is not None
            return f"cron.d-{self.path.name}"
        return f"user-{self.user or invoking_user()}"


def location_for(settings: Settings, target: str, block_id: str, user: str | None = None) -> Location:
    """Return where a block of `block_id` lives for `target` (cron.d: a file named after the id)."""
    check_target(target)
    if target == "cron.d":
        return Location("cron.d", user=None, path=settings.cron_d / cron_d_name(block_id))
    return Location("user", user=user, command=settings.crontab_command)


def _crontab(location: Location, args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """Run the crontab command; return (exit status, stdout, stderr).

    Bytes cross the pipe unchanged: stdin and stdout go through surrogateescape, so a byte
    that is not UTF-8 comes back as the same byte (stderr is only for messages).
    """
    command = list(location.command)
    if location.user:
        command += ["-u", location.user]
    data = None if stdin is None else stdin.encode("utf-8", errors="surrogateescape")
    try:
        done = subprocess.run(command + args, input=data, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CrontabUnavailable(f"crontab command not found: {command[0]} (install cron)") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CrontabUnavailable(f"crontab command failed: {exc}") from None
    return (done.returncode, done.stdout.decode("utf-8", errors="surrogateescape"),
            done.stderr.decode("utf-8", errors="replace"))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"


class CrontabAmbiguous(ConfigError):
    """`crontab -l` showed escapes cronkit cannot tell from the literal text; nothing was written."""

    what_to_do = "Run the install as root (it then reads the spool file), or remove the `\\r`/`\\b` bytes from the crontab."


# Debian's crontab -l (since 3.0pl1-149, bug #585552) prints a carriage return as the two
# characters `\r` and a backspace as `\b`, without escaping backslashes: the listing of a
# crontab holding either is ambiguous, and writing it back would change those bytes.
SPOOL_DIRS = ("/var/spool/cron/crontabs", "/var/spool/cron")


def escape_like_listing(text: str) -> str:
    """Return `text` as Debian's `crontab -l` prints it: CR and backspace as `\\r` and `\\b`."""
    return text.replace("\r", "\\r").replace("\b", "\\b")


def _unambiguous(location: Location, listed: str) -> str:
    """Return the crontab's exact text when `crontab -l` may have escaped CR or backspace in it.

    The spool file (readable by root) holds the real bytes; it is used when, escaped the way
    the listing escapes, it gives exactly the listing (after cron's header comments). Else
    the crontab is refused rather than rewritten with different bytes.
    """
    if "\\r" not in listed and "\\b" not in listed:
        return listed
    user = location.user or invoking_user()
    for directory in SPOOL_DIRS:
        try:
            raw = (Path(directory) / user).read_bytes().decode("utf-8", errors="surrogateescape")
        except OSError:
            continue
        body = raw
        for _ in range(4):
            if escape_like_listing(body) == listed:
                return body
            cut = body.find("\n")
            if not body.startswith("#") or cut < 0:
                break
            body = body[cut + 1:]
    raise CrontabAmbiguous(
        f"{location.describe()} holds \\r or \\b, which `crontab -l` shows escaped: cronkit "
        "cannot tell them from literal text and left it untouched (run as root so the spool "
        "can be read, or use --target cron.d)"
    )


def read_crontab(location: Location, *,
                 exact: bool = False) -> str | None:
    """Return the crontab's text, None when there is none (no crontab, no file).

    Bytes that are not UTF-8 come back as surrogate escapes (surrogateescape), so writing the
    text back restores them. With `exact` (install and uninstall, which write it back), a
    listing that `crontab -l` may have escaped is resolved from the spool file, or refused
    with CrontabAmbiguous (78).
    """
    if location.target == "cron.d":
        assert location.path is not None
        try:
            return location.path.read_bytes().decode("utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CrontabUnavailable(f"cannot read {location.path}: {exc.strerror}") from None
    code, out, err = _crontab(location, ["-l"])
    if code == 0:
        return _unambiguous(location, out) if exact else out
    if "no crontab for" in err:
        return None
    raise CrontabUnavailable(f"crontab -l failed (exit {code}): {_first_line(err)}")


def write_crontab(location: Location, text: str | None) -> None:
    """Replace the crontab with `text`; None removes it (the cron.d file, or `crontab -r`)."""
    if location.target == "cron.d":
        assert location.path is not None
        if text is None:
            try:
                location.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise CrontabUnavailable(f"cannot remove {location.path}: {exc.strerror}") from None
            _fsync_dir(location.path.parent)
            return
        _write_cron_d(location.path, text)
        return
    if text is None:
        code, _, err = _crontab(location, ["-r"])
        if code != 0 and "no crontab for" not in err:
            raise CrontabUnavailable(f"crontab -r failed (exit {code}): {_first_line(err)}")
        return
    code, _, err = _crontab(location, ["-"], stdin=text)
    if code != 0:
        raise CrontabUnavailable(f"crontab - failed (exit {code}): {_first_line(err)}")


def _write_cron_d(path: Path, text: str) -> None:
    """Write a cron.d file atomically, root's and 0644 (cron refuses a group- or world-writable one).

    The temp file's name holds dots: Debian's cron ignores it, so it never reads it half-written.
    """
    try:
        write_atomic(path, text, 0o644, owner=(0, 0) if os.geteuid() == 0 else None)
    except OSError as exc:
        raise CrontabUnavailable(f"cannot write {path}: {exc.strerror}") from None
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    # cron notices changes in the cron.d directory by its mtime; a rename within one second
    # of the previous change would be missed on filesystems with coarse timestamps.
    try:
        os.utime(directory)
    except OSError:
        pass
