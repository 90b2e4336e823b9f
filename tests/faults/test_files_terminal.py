"""Faults of hostile task text: terminal escape sequences must not reach the operator's terminal."""

from __future__ import annotations

import re
from pathlib import Path

from cronkit.safe.terminal import printable
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

HOSTILE = ("title\x1b]0;pwned\x07 clear\x1b[2J\x1b[H link\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
           " csi\x9b31m bell\x07 hide\rOVERWRITE bidi\u202eevil\u202c [link=https://evil.example]x[/link]")
REGISTRY = f"""
HOSTILE = {HOSTILE!r}

@registry.task("* * * * *", name="noisy", environments=["*"], timeout="30s")
def noisy(ctx):
    print("line one\\tTAB\\r\\n" + HOSTILE, flush=True)
    raise RuntimeError("boom " + HOSTILE)

@registry.task("* * * * *", name="noisy-ok", environments=["*"], timeout="30s")
def noisy_ok(ctx):
    print(HOSTILE, flush=True)
    return {{"note": HOSTILE}}
"""
# Raw control characters a terminal acts on (the escaped forms `\\x1b` are harmless text).
DANGEROUS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_files_printable_keeps_text_and_neutralises_controls() -> None:
    """Scenario: OSC title, clear screen, OSC 8 hyperlink, 8-bit CSI, bell, a bare CR, a bidi
    override, CRLF, tabs, a byte that was not UTF-8.
    Promise: every control shows as a visible escape; newlines and tabs stay; CRLF becomes LF."""
    out = printable("a\tb\r\n" + HOSTILE + "\udce9")
    assert not DANGEROUS.search(out)
    assert out.startswith("a\tb\ntitle\\x1b]0;pwned\\x07") and out.endswith("\\xe9")
    assert "hide\\rOVERWRITE" in out and "\\u202e" in out


def test_files_task_escape_sequences_never_reach_the_terminal(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    """Scenario: a task prints and raises text full of terminal escapes (title change, clear
    screen, OSC 8 hyperlinks, CSI, CR, bidi, rich markup); the operator runs it and reads it
    back with show, history, dlq list/show and health.
    Promise: no raw control character reaches stdout or stderr of any of them; the text is
    still there, escaped, and newlines and tabs of the output are kept."""
    env = {"CRONKIT_TASKS": str(write_registry(tmp_path / "noisy_tasks.py", REGISTRY))}
    runs = [run_cli("run", "noisy", env=env), run_cli("run", "noisy-ok", env=env)]
    assert runs[0].returncode == 1 and runs[1].returncode == 0
    views = [*runs, run_cli("show", "1", env=env), run_cli("show", "2", env=env),
             run_cli("history", env=env), run_cli("dlq", "list", env=env),
             run_cli("dlq", "show", "1", env=env), run_cli("health", env=env),
             run_cli("show", "1", "--json", env=env)]
    for view in views:
        for stream in (view.stdout, view.stderr):
            assert not DANGEROUS.search(stream), (view.args, stream)
    show = views[2].stdout
    assert re.search(r"line one[\t ]+TAB\n", show) and "\\x1b]8;;https://evil.example" in show
    assert "[link=https://evil.example]x[/link]" in show  # markup shown as text, not obeyed
    assert "boom title\\x1b]0;pwned" in runs[0].stderr
