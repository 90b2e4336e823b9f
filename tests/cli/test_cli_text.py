"""What the CLI prints, as a person reads it: a reader that leaves early, help texts as written and
reflowed, bad numbers in plain words, paths printed whole."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from typer.core import TyperGroup

from tests.clitree import all_commands
from tests.conftest import CRONKIT, write_registry
from tests.fixturetypes import RunCli

# Enough tasks that `list`, `status` and `render` print far more than a pipe holds (64 KiB).
MANY_TASKS = """
def noop(ctx: TaskContext) -> dict:
    return {}


for number in range(1200):
    registry.add("0 * * * *", noop, name=f"task-number-{number:04d}", environments=["*"],
                 description="One task of many, here to fill the screen with rows")
"""

FAILING = """
@registry.task("0 * * * *", environments=["*"])
def boom(ctx: TaskContext) -> dict:
    raise ValueError("cannot read /srv/platform/exports/2026/11/quarterly-revenue-by-region-and-product.csv: "
                     "permission denied")
"""


@pytest.fixture
def many(run_process: RunCli, tmp_path: Path) -> dict[str, str]:
    env = {"CRONKIT_TASKS": str(write_registry(tmp_path / "many_tasks.py", MANY_TASKS)),
           "CRONKIT_CRON_D": str(tmp_path)}
    assert run_process("run", "task-number-0000", env=env).returncode == 0  # a run log for `status`
    return env


def _reader_leaves(cronkit_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], env: dict[str, str],
                   read_first: bool) -> tuple[int, bytes, str]:
    """Run `cronkit ARGS` into a pipe whose reader leaves (at once, or after one line), as `| head -1` does."""
    proc = subprocess.Popen([CRONKIT, *args], env={**cronkit_env, **env}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline() if read_first else b""
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    return proc.wait(timeout=60), first, stderr


@pytest.mark.slow
def test_a_reader_that_leaves_early_gets_no_traceback(many: dict[str, str], cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """`cronkit status | head -1`: no traceback and nothing on stderr, on the lean paths and typer's.

    With the reader gone before the first write, every write fails: exit 1 (main.EXIT_READER_GONE).
    When the reader leaves halfway through one large write, Python may drop the rest unseen: only
    quiet is promised then."""
    commands = [("status",), ("list",), ("history",), ("render", "--target", "cron.d"),
                ("history", "--since", "7d"), ("--help",)]
    for args in commands:
        code, _, stderr = _reader_leaves(cronkit_env, tmp_path, args, many, read_first=False)
        assert (code, stderr) == (1, ""), args
    for args in commands[:4]:
        code, first, stderr = _reader_leaves(cronkit_env, tmp_path, args, many, read_first=True)
        assert first and stderr == "" and code in (0, 1), (args, code, stderr)


def test_a_reader_that_leaves_keeps_a_failure_code(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """A command that had failed already (no run log: 78) keeps its code when its reader has gone."""
    code, _, stderr = _reader_leaves(cronkit_env, tmp_path, ("status",), {"CRONKIT_TASKS": "cronkit.tasks"},
                                     read_first=False)
    assert code == 78 and stderr.startswith("cronkit: error: no run log at ")


# -- help --------------------------------------------------------------------------------------------

def _broken_early(lines: list[str], width: int) -> list[str]:
    """Return the lines of prose broken while the next word would have fitted: a docstring's hard
    line break shown as it was typed."""
    broken = []
    prose = [line for line in lines if not line.startswith(("╭", "│", "╰"))]
    for line, after in zip(prose, prose[1:], strict=False):
        if line.strip() and after.strip() and not line.lstrip().startswith("Usage:"):
            if len(line) + 1 + len(after.split()[0]) <= width - 1:  # help is padded a column each side
                broken.append(line)
    return broken


def _commands_broken_early(lines: list[str]) -> list[str]:
    """Return the lines of a Commands panel whose description broke while the next word would have fitted."""
    broken, start, inside = [], 0, False
    for line, after in zip(lines, lines[1:], strict=False):
        inside = (inside or line.startswith("╭─ Commands")) and not line.startswith("╰")
        name = re.match(r"│ (\S+ +)\S", line)
        if name:
            start = 2 + len(name.group(1))  # where the descriptions' column starts
        more = after[start:-1].split()
        if not inside or not after.startswith("│") or after[2:start].strip() or not more:
            continue  # the next line is another command's, or none
        if len(line[:-1].rstrip()) + 1 + len(more[0]) <= len(line) - 2:  # text ends a space before │
            broken.append(line)
    return broken


def _bracketed_help(path: list[str]) -> list[str]:
    """Return the `[...]` parts of a command's help texts (its own and its parameters')."""
    import typer.main

    from cronkit.cli.app import app

    command = typer.main.get_command(app)
    for name in path:
        assert isinstance(command, TyperGroup), path
        command = command.commands[name]
    texts = [command.help or "", *(getattr(param, "help", None) or "" for param in command.params)]
    return [found for text in texts for found in re.findall(r"\[[^\]\s]*\]", text)]


@pytest.mark.parametrize("columns", [80, 120])
def test_every_help_reads_as_written(run_cli: RunCli, columns: int) -> None:
    """Every command's --help: no line ends in a space, brackets are text (not rich markup that
    vanishes, leaving `A  table`), paragraphs reflowed to the width (not broken where the
    docstring's lines were)."""
    seen = {}
    for command in all_commands():
        proc = run_cli(*command, "--help", env={"COLUMNS": str(columns)})
        assert proc.returncode == 0, (command, proc.stderr)
        lines = proc.stdout.splitlines()
        assert [line for line in lines if line != line.rstrip()] == [], command
        prose = [line.strip() for line in lines if not line.startswith(("╭", "│", "╰"))]
        assert not any(re.search(r"\S  \S", line) for line in prose), (command, proc.stdout)
        for bracketed in _bracketed_help(command):  # rich markup would swallow it
            assert bracketed in proc.stdout, (command, bracketed)
        assert _broken_early(lines, columns) == [] and _commands_broken_early(lines) == [], (command, proc.stdout)
        seen[" ".join(command)] = proc.stdout
    assert "A [notify.<name>] table of the config." in seen["notify test"] and "A  table" not in seen["notify test"]
    assert "catch-up\n run;" not in seen["check"]


def test_reflow_keeps_paragraphs_and_example_lines() -> None:
    from cronkit.cli.helpfmt import reflow

    text = """Run the duties: mark lost runs, notify
    missed slots.

    Quiet when all is well;
    one line per run.
    Example: cronkit check --json
        cronkit check --boot
    $ cronkit check
    """
    assert reflow(text) == ("Run the duties: mark lost runs, notify missed slots.\n\n"
                            "Quiet when all is well; one line per run.\nExample: cronkit check --json\n"
                            "    cronkit check --boot\n$ cronkit check")


# -- bad values ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (("stats", "--days", "abc"), "--days: 'abc' is not a number"),
    (("stats", "--days", "0"), "--days: must be between 0.01 and 3650, not 0"),
    (("stats", "--days", "nan"), "--days: 'nan' is not a number"),
    (("stats", "--days", "inf"), "--days: 'inf' is not a number"),
    (("history", "--limit", "abc"), "--limit: 'abc' is not a whole number"),
    (("history", "--limit", "1.5"), "--limit: '1.5' is not a whole number"),
    (("history", "--limit", "0"), "--limit: must be between 1 and 100000, not 0"),
    (("notify", "log", "--limit", "0"), "--limit: must be between 1 and 100000, not 0"),
    (("demo", "seed", "--large-log-mb", "-1"), "--large-log-mb: must be between 0 and 10240, not -1"),
    (("serve", "--port", "99999"), "--port: must be between 1 and 65535, not 99999"),
    (("show", "abc"), "RUN_ID: 'abc' is not a whole number"),
])
def test_a_bad_number_is_one_plain_line(run_cli: RunCli, args: tuple[str, ...], message: str) -> None:
    proc = run_cli(*args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", f"cronkit: error: {message}\n")


def test_range_text_says_what_a_range_takes() -> None:
    from typer._click.types import FloatRange, IntRange

    from cronkit.cli.usage import range_text

    assert range_text(FloatRange(0.01, 3650)) == "between 0.01 and 3650"
    assert range_text(IntRange(min=1)) == "at least 1"
    assert range_text(IntRange(max=9)) == "at most 9"
    assert range_text(FloatRange(0, 1, min_open=True)) == "more than 0 and at most 1"
    assert range_text(FloatRange(max=1.5, max_open=True)) == "less than 1.5"


# -- paths whole ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_demo_notes_name_their_paths_whole(run_process: RunCli, tmp_path: Path) -> None:
    """At 80 columns, a long home's key file is on the line that names it, no line ends in a space."""
    home = tmp_path / ("trial-home-with-a-rather-long-name-" + "x" * 40)
    proc = run_process("demo", "run", "--users", "10", "--days", "1",
                       env={"CRONKIT_HOME": str(home), "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"CRONKIT_SECRET_KEY is not set: the demo uses the key in {home}/demo/demo.key"
    assert [line for line in lines if line != line.rstrip()] == []
    # Nothing configured (no CRONKIT_TASKS), and the demo keeps its own home: the user's own
    # history starts empty.
    assert lines[-1] == (f"The demo keeps its own home, {home}/demo; look further with:"
                         f" cronkit --home {home}/demo --tasks cronkit.tasks status (or history, serve)")
    assert (home / "demo" / "cronkit.db").exists() and (home / "demo" / "platform.db").exists()
    assert sorted(p.name for p in home.iterdir()) == ["demo"]
    assert " 7 secret-rotation " in proc.stdout  # history's id column, at 80 columns


def test_seed_and_show_print_paths_and_errors_whole(run_cli: RunCli, tmp_path: Path) -> None:
    home = tmp_path / ("trial-home-with-a-rather-long-name-" + "x" * 40)
    env = {"CRONKIT_HOME": str(home), "COLUMNS": "80",
           "CRONKIT_TASKS": str(write_registry(tmp_path / "failing_tasks.py", FAILING))}
    seeded = run_cli("demo", "seed", "--users", "10", "--days", "1", "--large-log-mb", "0", env=env)
    assert seeded.returncode == 0, seeded.stderr
    lines = seeded.stdout.splitlines()
    assert lines[-2:] == [f"Platform database: sqlite:///{home}/platform.db", f"Log files: {home}/logs"]
    assert [line for line in lines if line != line.rstrip()] == []

    assert run_cli("run", "boom", env=env).returncode == 1
    error = ("ValueError: cannot read /srv/platform/exports/2026/11/quarterly-revenue-by-region-and-product.csv:"
             " permission denied")
    for args in (("show", "1"), ("dlq", "show", "1")):
        shown = run_cli(*args, env=env)
        assert shown.returncode == 0, shown.stderr
        assert f"  {error}" in shown.stdout.splitlines(), args
        assert [line for line in shown.stdout.splitlines() if line != line.rstrip()] == [], args
