"""The CLI's plumbing: one declaration per command that the fast parser and typer's help both read, state per
invocation, in-process runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.core import TyperArgument, TyperGroup, TyperOption

from cronkit.cli.app import app
from cronkit.cli.commands import COMMANDS, GLOBAL_OPTIONS, RUN, Command, Option
from cronkit.cli.fastpath import parse
from cronkit.cli.helpfmt import reflow
from cronkit.cli.state import GlobalOptions
from tests.conftest import run_in_process, write_registry
from tests.fixturetypes import RunCli

REGISTRY = """
@registry.task("0 10 * * *", environments=["*"])
def noop(ctx: TaskContext) -> dict:
    return {}


@registry.task("0 * * * *", environments=["production"])
def prod_only(ctx: TaskContext) -> dict:
    return {}
"""


@pytest.fixture
def env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    registry = write_registry(tmp_path / "app_registry.py", REGISTRY)
    return {**cronkit_env, "CRONKIT_TASKS": str(registry), "CRONKIT_NOW": "2026-11-28T09:30:00+00:00"}


# -- one declaration per command ------------------------------------------------------------------

def _options(command: Any) -> dict[str, Any]:
    """Return a click command's options by their long name, without --help and --version."""
    return {param.opts[0]: param for param in command.params
            if param.param_type_name == "option" and param.opts[0] not in ("--help", "--version")}


@pytest.mark.parametrize("declared", [None, *COMMANDS], ids=lambda c: c.name if c else "global")
def test_help_and_parser_agree_on_every_option(declared: Command | None) -> None:
    group = typer.main.get_command(app)
    command = group.get_command(None, declared.name) if declared else group  # type: ignore[attr-defined]
    table: tuple[Option, ...] = declared.options if declared else GLOBAL_OPTIONS
    shown = _options(command)
    assert sorted(shown) == sorted(option.name for option in table)
    for option in table:
        param = shown[option.name]
        assert isinstance(param, TyperOption)
        assert (param.name, param.help, param.is_flag, param.multiple) == (
            option.dest, option.help, option.flag, option.repeat), option.name
    if declared is not None:
        arguments = [param for param in command.params if isinstance(param, TyperArgument)]
        assert [(a.name, a.help, a.required) for a in arguments] == (
            [(declared.argument.dest, declared.argument.help, declared.argument.required)] if declared.argument else [])
        assert command.help == reflow(declared.help)


def test_run_help_shows_every_option_of_the_parser(run_cli: RunCli) -> None:
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for option in RUN.options:
        assert option.name in proc.stdout and option.help in proc.stdout, option.name
    top = run_cli("--help")
    for option in GLOBAL_OPTIONS:
        assert option.name in top.stdout and option.help in top.stdout, option.name


def typer_parse(argv: list[str]) -> tuple[str, GlobalOptions, dict[str, Any]]:
    """Parse `[global options] COMMAND ...` the way the typer app does, without running it."""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    root = group.make_context("cronkit", list(argv))
    found = root.params
    name, command, rest = group.resolve_command(root, [*root._protected_args, *root.args])
    assert name is not None and command is not None
    values = command.make_context(name, rest, parent=root).params
    opts = GlobalOptions(**{o.dest: found[o.dest] for o in GLOBAL_OPTIONS})
    return name, opts, {**values, **({"params": list(values["params"] or [])} if "params" in values else {})}


def fast_parse(argv: list[str]) -> tuple[str, GlobalOptions, dict[str, Any]] | None:
    parsed = parse(argv)
    return None if parsed is None else (parsed[0].name, parsed[1], parsed[2])


@pytest.mark.parametrize("argv", [
    ["run", "t"],
    ["--config", "c.toml", "run", "t", "--trigger", "cron"],
    ["--home=/h", "--env", "production", "--db-url", "sqlite:///x.db", "--tasks", "m:r", "--debug", "run", "t"],
    ["run", "--param", "a=1", "t", "--param=b=x=y", "--date", "2026-11-20", "--dry-run", "--json"],
    ["run", "t", "--trigger=retry", "--param", "", "--date=2026-01-01", "--run-id", "7", "--force"],
    ["list"], ["list", "noop", "--json"], ["history", "--limit", "5", "--status", "failed", "noop", "--since", "2h"],
    ["history", "--limit=100000"], ["show", "42", "--json"], ["status"], ["--env", "x", "health", "--json"],
    ["stats", "--days", "0.5"], ["stats"], ["insights", "t", "--days=3650"], ["insights"],
])
def test_fast_parser_reads_a_command_line_as_typer_does(argv: list[str]) -> None:
    assert fast_parse(argv) == typer_parse(argv)


@pytest.mark.parametrize("argv", [
    ["run"], ["run", "t", "u"], ["run", "t", "--frobnicate"], ["run", "t", "--date"], ["run", "t", "--dry-run=yes"],
    ["--bogus", "run", "t"], ["run", "t", "-x"], ["--home", "run", "t"],
    ["history", "--limit", "0"], ["history", "--limit", "abc"], ["show"], ["show", "abc"], ["show", "0"],
    ["show", "99999999999999999999999"], ["stats", "--days", "nan"], ["stats", "--days", "0"], ["status", "x"],
    ["list", "a", "b"], ["status", "--days", "3"],
])
def test_fast_parser_leaves_what_typer_rejects_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None
    with pytest.raises(Exception) as info:
        typer_parse(argv)
    assert getattr(info.value, "exit_code", None) == 2  # a usage error, reported by typer


def test_fast_parser_takes_global_options_after_the_task_too() -> None:
    assert parse(["run", "t", "--home", "/h", "--debug", "--json"]) == parse(
        ["--home", "/h", "--debug", "run", "t", "--json"])


@pytest.mark.parametrize("argv", [["run", "t", "--help"], ["-h", "status"], ["install"], ["--version"], []])
def test_help_and_other_commands_go_to_typer(argv: list[str]) -> None:
    assert parse(argv) is None


# -- state per invocation --------------------------------------------------------------------------

def test_in_process_invocations_do_not_share_state(env: dict[str, str], tmp_path: Path) -> None:
    def enabled(*args: str) -> dict[str, bool]:
        proc = run_in_process([*args, "list", "--json"], env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        return {row["name"]: row["enabled"] for row in json.loads(proc.stdout)}

    assert enabled("--env", "production") == {"noop": True, "prod-only": True}
    assert enabled() == {"noop": True, "prod-only": False}  # not the previous command line's --env
    other = write_registry(tmp_path / "other_registry.py", REGISTRY.replace("noop", "other"))
    assert enabled("--tasks", str(other)) == {"other": True, "prod-only": False}
    assert enabled() == {"noop": True, "prod-only": False}

    (Path(env["CRONKIT_HOME"]) / "cronkit.db").write_bytes(os.urandom(4096))
    debug = run_in_process(["--debug", "history"], env, tmp_path)
    assert debug.returncode == 69 and "Traceback (most recent call last)" in debug.stderr
    plain = run_in_process(["history"], env, tmp_path)
    assert plain.returncode == 69 and "Traceback" not in plain.stderr and plain.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [
    ["list", "--json"], ["history", "--json"], ["show", "9"], ["frobnicate"], ["--version"], ["dlq"],
    ["--env", "Prod!", "list"], ["due", "--at", "2026-11-28T10:00:00Z", "--json"],
])
def test_in_process_run_matches_the_executable(run_process: RunCli, env: dict[str, str], tmp_path: Path,
                                               args: list[str]) -> None:
    real = run_process(*args, env=env)
    inside = run_in_process(args, env, tmp_path)
    assert (inside.returncode, inside.stdout, inside.stderr) == (real.returncode, real.stdout, real.stderr)


# -- debug is a setting ----------------------------------------------------------------------------

def test_debug_from_the_environment_or_the_config_file(run_cli: RunCli, env: dict[str, str], tmp_path: Path) -> None:
    (Path(env["CRONKIT_HOME"]) / "cronkit.db").write_bytes(os.urandom(4096))
    for command in (["history"], ["run", "noop"]):  # bodies that report their errors alike and their own way
        assert "Traceback (most recent call last)" in run_cli(*command, env={**env, "CRONKIT_DEBUG": "1"}).stderr
        assert "Traceback" not in run_cli(*command, env={**env, "CRONKIT_DEBUG": "0"}).stderr
        bad = run_cli(*command, env={**env, "CRONKIT_DEBUG": "maybe"})
        assert (bad.returncode, bad.stdout) == (78, "")
        assert bad.stderr == ("cronkit: error: debug: 'maybe' is not a boolean "
                              "(1/0, true/false, yes/no, on/off) (set by CRONKIT_DEBUG)\n")
    (tmp_path / "cronkit.toml").write_text("debug = true\n")
    assert "Traceback (most recent call last)" in run_cli("history", env=env).stderr


# -- groups without a subcommand -------------------------------------------------------------------

@pytest.mark.parametrize("group", ["dlq", "demo"])
def test_a_group_without_a_subcommand_prints_its_help_once(run_cli: RunCli, run_process: RunCli, group: str) -> None:
    bare, help_ = run_cli(group), run_cli(group, "--help")
    assert (bare.returncode, bare.stderr) == (0, "")
    assert bare.stdout == help_.stdout
    assert bare.stdout.count(f"Usage: cronkit {group} ") == 1
    real = run_process(group)
    assert (real.returncode, real.stdout, real.stderr) == (0, help_.stdout, "")


def test_the_table_names_every_command_of_the_typer_only_modules() -> None:
    """Each typer-only command is loaded by the name the table gives it, and `--help` lists all, in order."""
    import importlib

    from cronkit.cli.commands import TYPER_ONLY

    registered: list[str] = []
    for module in dict.fromkeys(module for _, module in TYPER_ONLY):
        sub = typer.Typer()
        importlib.import_module(module).register(sub)
        registered += [name for name in typer.main.get_group(sub).commands if (name, module) in TYPER_ONLY]
        assert {name for name in typer.main.get_group(sub).commands} == {n for n, m in TYPER_ONLY if m == module}
    assert sorted(registered) == sorted(name for name, _ in TYPER_ONLY)
    group = typer.main.get_command(app)
    assert group.list_commands(None) == [c.name for c in COMMANDS] + [name for name, _ in TYPER_ONLY]  # type: ignore[attr-defined]
