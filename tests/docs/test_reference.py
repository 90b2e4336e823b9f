"""The generated references cover the code (issue 32): every command, option, setting, variable and error.

docs/gen/reference.py builds them from the code's declarations when the site is built; these tests
check what a reader looks for against the code read another way: `cronkit --help` as a person runs
it, and every `CRONKIT_*` name the package's source mentions.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import need, run_in_process

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "docs" / "gen" / "reference.py")
assert spec is not None and spec.loader is not None
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)

# Names the source mentions that are not variables a user sets: the prefix of command tasks'
# parameters (documented as CRONKIT_PARAM_<NAME>).
NOT_VARIABLES = {"CRONKIT_PARAM_"}


def help_commands(*group: str) -> list[str]:
    """Return the command names `cronkit [GROUP] --help` lists in its Commands box.

    Run in this process as the console script runs (run_in_process): one import of the CLI for
    the 40-odd help pages rather than a new interpreter each."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
    done = run_in_process([*group, "--help"], {**env, "COLUMNS": "200"}, ROOT)
    assert done.returncode == 0, done.stderr
    box = done.stdout.split("Commands", 1)[1] if "Commands" in done.stdout else ""
    return [m.group(1) for m in re.finditer(r"^│ (\w[\w-]*)\s", box, re.M)]


def test_every_command_of_cronkit_help_is_in_the_command_reference() -> None:
    text = reference.cli_markdown()
    top = help_commands()
    assert len(top) >= 15 and "run" in top and "install" in top
    for name in top:
        assert f"`cronkit {name}`" in text, name
        for sub in help_commands(name):
            assert f"`cronkit {name} {sub}`" in text, (name, sub)


def test_every_option_of_every_command_is_in_the_command_reference() -> None:
    text = reference.cli_markdown()
    sections = {m.group(1): m.start() for m in re.finditer(r"^#+ `(cronkit[^`]*)`", text, re.M)}
    bounds = sorted(sections.values()) + [len(text)]
    for path, command in reference.walk(reference.command_tree()):
        start = sections[" ".join(path)]
        section = text[start:bounds[bounds.index(start) + 1]]
        for param in command.params:
            for name in param.opts if param.param_type_name == "option" else []:
                assert f"`{name}`" in section, (" ".join(path), name)


def test_every_cronkit_variable_the_code_reads_is_in_the_settings_reference() -> None:
    text = reference.settings_markdown()
    source = "\n".join(p.read_text() for p in (ROOT / "cronkit").rglob("*.py"))
    names = set(re.findall(r"\bCRONKIT_[A-Z0-9_]+", source)) - NOT_VARIABLES
    assert "CRONKIT_HOME" in names and "CRONKIT_TASKS" in names
    missing = sorted(name for name in names if f"`{name}`" not in text)
    assert not missing, missing
    assert "`CRONKIT_PARAM_<NAME>`" in text


def test_every_setting_has_a_meaning_and_every_error_class_its_exit_code() -> None:
    from cronkit.config.settings import ENV_VARS, FILE_ONLY_KEYS, RUNTIME_ENV_VARS

    rows = reference.settings_rows()
    assert {row["key"].strip("`") for row in rows} == {*ENV_VARS, *RUNTIME_ENV_VARS, *FILE_ONLY_KEYS}
    assert all(row["meaning"] for row in rows)
    table = reference.errors_markdown()
    for cls in reference.error_classes():
        assert f"| `{cls.__name__}` (" in table
        assert cls.what_to_do, cls
    assert "| `LockHeld` (locks) | 75 |" in table and "| `ConfigError` (errors) | 78 |" in table


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`: every page in the nav, every link and anchor found (also run by .ci/run)."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        need("mkdocs and mkdocs-material", "pip install --require-hashes -r requirements/docs-lock.txt")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-4000:]
    page = (tmp_path / "site" / "reference" / "settings" / "index.html").read_text()
    assert "CRONKIT_HOME" in page and "CRONKIT_HEARTBEAT_INTERVAL" in page
    assert "cronkit dlq retry" in (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()


@pytest.mark.parametrize("page", ["reference/cli.md", "reference/settings.md", "operations.md", "changelog.md"])
def test_generated_pages_hold_their_marker(page: str) -> None:
    assert reference.MARKER.search((ROOT / "docs" / page).read_text())
