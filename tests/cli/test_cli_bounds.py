"""Every number a command line takes is bounded (issue 25): a usage error, exit 2, one line.

`cronkit show 99999999999999999999999` was an OverflowError traceback from the SQLite driver. The
numeric parameters are found by walking the typer app, so a new option without bounds fails here;
the lean paths (show, history, run, stats) and the options that parse their own text (ids, instants,
durations) are listed by hand.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import typer
from typer._click import types
from typer.core import TyperGroup

from cronkit.cli.app import app
from tests.conftest import run_in_process, write_registry
from tests.fixturetypes import RunCli

HUGE = "99999999999999999999999"


def _numeric_params() -> list[tuple[tuple[str, ...], str, bool]]:
    """Return (command path, option or argument name, is_option) of every int or float parameter."""
    found: list[tuple[tuple[str, ...], str, bool]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))
        for param in getattr(command, "params", []):
            if isinstance(param.type, types._NumberParamTypeBase):
                is_option = param.param_type_name == "option"
                found.append((path, param.opts[0] if is_option else param.human_readable_name, is_option))

    walk(typer.main.get_command(app), ())
    return found


NUMERIC = _numeric_params()


def test_every_numeric_parameter_has_a_range() -> None:
    assert len(NUMERIC) >= 15  # history, show, stats, audit, serve, dlq, demo, notify log...
    command = typer.main.get_command(app)
    for path, name, _ in NUMERIC:
        node = command
        for part in path:
            assert isinstance(node, TyperGroup), path
            node = node.commands[part]
        param = next(p for p in node.params if name in (*p.opts, p.human_readable_name))
        assert getattr(param.type, "max", None) is not None, f"{' '.join(path)} {name} has no upper bound"
        assert getattr(param.type, "min", None) is not None, f"{' '.join(path)} {name} has no lower bound"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "bounds_registry.py",
                              '@registry.task("0 3 * * *", name="t1")\ndef t1(ctx): return {}\n')
    return {"CRONKIT_TASKS": str(registry)}


def _usage_error(proc: subprocess.CompletedProcess[str], name: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"cronkit: error: {name}: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(("path", "name", "is_option"), NUMERIC, ids=[f"{' '.join(p)} {n}" for p, n, _ in NUMERIC])
@pytest.mark.parametrize("value", [HUGE, "-" + HUGE, "1e400", "nan", "\u00b2"])
def test_a_number_out_of_bounds_is_a_usage_error(cronkit_env: dict[str, str], tmp_path: Path, env: dict[str, str],
                                                 path: tuple[str, ...], name: str, is_option: bool,
                                                 value: str) -> None:
    args = [*path, name, value] if is_option else [*path, "--", value]  # "--": -9... is not an option
    # In this process even for `demo run` and `dlq retry`: the command line is refused before any task runs.
    proc = run_in_process(args, {**cronkit_env, **env}, tmp_path)
    _usage_error(proc, name)
    assert "must be between" in proc.stderr or "is not a" in proc.stderr


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("show", HUGE), "RUN_ID"),  # the lean path hands it to typer, which bounds it
        (("show", HUGE, "--json"), "RUN_ID"),
        (("show", "\u00b2"), "RUN_ID"),  # str.isdigit() says yes, int() says no
        (("show", "9223372036854775808"), "RUN_ID"),
        (("history", "--limit", "\u00b2"), "--limit"),
        (("history", "--limit", HUGE), "--limit"),
        (("run", "t1", "--run-id", HUGE), "--run-id"),
        (("run", "t1", "--run-id", "\u00b2"), "--run-id"),
        (("stats", "--days", "1e400"), "--days"),
        (("dlq", "show", HUGE), "LETTER_ID"),
        (("dlq", "retry", HUGE), "LETTER_ID"),
        (("history", "--since", "0001-01-01T00:00+01:00"), "--since"),
        (("history", "--since", HUGE + "d"), "--since"),
        (("audit", "--since", "9999-12-31T23:59-01:00"), "--since"),
        (("dlq", "purge", "--before", "0001-01-01T00:00+05:00"), "--before"),
        (("due", "--at", "9999-12-31T23:59-01:00"), "--at"),
        (("due", "--at", "0001-01-01T00:00+01:00"), "--at"),
        (("due", "--at", "2026-01-01", "--until", "9999-12-31T23:59-01:00"), "--until"),
        (("due", "--explain", "t1", "--since", "0001-01-01T00:00+05:00"), "--since"),
        # A byte that is not UTF-8 (a lone surrogate to Python) reached the database driver: a traceback.
        (("history", "\udcff"), "TASK"),
        (("history", "t\udcff", "--json"), "TASK"),
        (("dlq", "list", "--task", "\udcff"), "--task"),
        (("notify", "log", "--task", "\udcff"), "--task"),
        (("pause", "t1", "--until", "9999-12-31T23:59-01:00"), "--until"),
        (("pause", "t1", "--until", "\u00b2:00"), "--until"),
        (("pause", "t1", "--for", HUGE + "d"), "--for"),
    ],
)
def test_lean_paths_and_text_values_are_bounded(run_cli: RunCli, env: dict[str, str], args: tuple[str, ...],
                                                name: str) -> None:
    _usage_error(run_cli(*args, env=env), name)


def test_the_largest_run_id_is_just_not_found(run_cli: RunCli, env: dict[str, str]) -> None:
    assert run_cli("run", "t1", env=env).returncode == 0
    proc = run_cli("show", "9223372036854775807", env=env)
    assert proc.returncode == 2 and proc.stderr == "cronkit: error: no run with id 9223372036854775807\n"
