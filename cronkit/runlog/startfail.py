"""Start-failure records: the trace a cron run leaves when it cannot even start.

A cron-triggered `cronkit run` whose registry does not import, whose settings are invalid or
whose run log cannot be reached records nothing in the run log; cron mails its stderr, if
anyone reads that mail. So it writes `<home>/start-failures/<key>.json` (the key is the stem
of the run settings file install wrote, one per block), which `status` and `health` report
until a cron run of that block starts again and removes it. Standard library only: this is
on the run path, and written when everything else may be broken.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cronkit.config.settings import default_home
from cronkit.plain import TYPE_CHECKING
from cronkit.safe.files import write_atomic

if TYPE_CHECKING:
    from typing import Any

DIRECTORY = "start-failures"
RUN_CONFIG_DIR = "cron"  # as cronfile.render.RUN_CONFIG_DIR: install writes <home>/cron/<key>.toml
DEFAULT_KEY = "default"
CLAIM_SUFFIX = ".told"  # notify/start_failure.py: `<key>.<digest of the error>.told`, a cause told
CLAIM_DIGITS = 16


def key_for(config: str | None) -> str:
    """Return the record's key for a run started with `--config config` (install's run settings file)."""
    return Path(config).stem if config else DEFAULT_KEY


def home_for(config: str | None, home: str | None, environ: Mapping[str, str]) -> Path:
    """Return the home to record in when the settings themselves may be unreadable.

    The run settings file install writes lives in `<home>/cron/`; else --home, CRONKIT_HOME,
    the default home.
    """
    if config and Path(config).parent.name == RUN_CONFIG_DIR:
        return Path(config).absolute().parent.parent
    chosen = home or environ.get("CRONKIT_HOME")
    if chosen:
        return Path(chosen).expanduser().absolute()
    return default_home(environ)


def path_of(home: Path, key: str) -> Path:
    return home / DIRECTORY / f"{key}.json"


def record(home: Path, key: str, *, task: str, error: str, exit_code: int, at: str) -> Path | None:
    """Write the record (0600, atomically); None when the home is not writable either."""
    path = path_of(home, key)
    data = {"task": task, "error": error, "exit_code": exit_code, "at": at, "key": key}
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, sort_keys=True) + "\n", 0o600)
    except OSError:
        return None
    return path


def clear(home: Path, key: str) -> None:
    """Remove the record after a start that succeeded (nothing to do when there is none), and the
    marks of the causes its notifiers were told (notify/start_failure.py): a new failure is news."""
    try:
        os.unlink(path_of(home, key))
    except OSError:
        pass
    try:
        told = list((home / DIRECTORY).glob(f"{glob.escape(key)}.{'[0-9a-f]' * CLAIM_DIGITS}{CLAIM_SUFFIX}"))
    except OSError:
        return
    for path in told:
        try:
            os.unlink(path)
        except OSError:
            pass


def read(home: Path, key: str) -> dict[str, Any] | None:
    """Return the record of `key`, None when there is none or it cannot be read."""
    try:
        data = json.loads(path_of(home, key).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
