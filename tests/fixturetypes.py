"""Name the types of the shared fixtures, so that a test annotates what it takes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

# notify's `config`: write the text as the config file; return its path.
WriteConfig = Callable[[str], Path]


class RunCli(Protocol):
    """`run_cli` and `run_process`: run `cronkit ARGS` (env adds to the test's environment)."""

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
                 input: str | None = None) -> subprocess.CompletedProcess[str]: ...


class Cli(Protocol):
    """A file's `cli`: run_cli with that file's registry (env adds to it)."""

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]: ...


class Run(Protocol):
    """notify's `run`: run_cli with the notification tests' environment."""

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]: ...
