"""Every example a user would copy from README.md and docs/ runs (issue 32): a renamed option breaks a test.

Each page's blocks run in order in a sandbox of their own, as a reader would type them one after
the other: a project directory (the working directory, also $HOME), a private CRONKIT_HOME, the
built-in registry unless the page exports its own, a crontab that is a file (a stand-in for
crontab(1)), a cron.d directory in the sandbox, `sudo` that runs its command as the tests' user,
and `.venv` pointing at the tests' venv. Variables a block exports reach the next blocks.

- `sh`, `bash`: run with `bash -e`; `console`: its `$ ` lines, the same way.
- `python`: a block whose first line is `# path/to/file.py` is written there (its directories made
  packages) and run; any other block is run as a script, after `registry = Registry()` when it uses
  a `registry` it does not define.
- `toml`: a cronkit settings file: `cronkit --config FILE list` must accept it.
- A block marked `<!-- example: skip (reason) -->` is not run, `<!-- example: exit N -->` must exit N
  (tests/docs/examples.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .examples import ROOT, Block, blocks, pages

VENV = Path(sys.prefix)
FAKE_CRONTAB = """#!/bin/sh
# A stand-in for crontab(1): the crontab is the file $FAKE_CRONTAB_FILE.
while [ $# -gt 0 ]; do
  case "$1" in
    -u) shift 2 ;;
    -l) [ -f "$FAKE_CRONTAB_FILE" ] || { echo "no crontab for $(id -un)" >&2; exit 1; }; cat "$FAKE_CRONTAB_FILE"; exit ;;
    -r) rm -f "$FAKE_CRONTAB_FILE"; exit ;;
    -) cat > "$FAKE_CRONTAB_FILE"; exit ;;
    *) echo "fake crontab: unsupported $*" >&2; exit 2 ;;
  esac
done
"""
# The reader's crontab before cronkit: one job of their own, which every example must keep.
FOREIGN_CRONTAB = "MAILTO=ops@example.com\n15 * * * * /usr/bin/backup.sh\n"
SHELL_PRELUDE = """set -e
sudo() { "$@"; }
trap 'export -p > "$PAGE_ENV"' EXIT
if [ -f "$PAGE_ENV" ]; then . "$PAGE_ENV"; fi
"""
PYTHON_PRELUDE = "from cronkit import Registry, TaskContext, TransientError\nregistry = Registry()\n"
FILE_HEADER = re.compile(r"#\s*(?P<path>[\w./-]+\.py)\s*$")
# What an example must not do to the machine the tests run on (often as root): such a block is marked skip.
# (cronkit's systemd target writes /etc/systemd/system unless given --unit-dir, --dry-run or a bare --user.)
# (`cronkit serve` would not end; a request to a local service would reach whatever listens there.)
DANGEROUS = re.compile(r"\b(u?mount|systemctl|kubectl|shutdown|reboot|mkfs|dd|useradd|userdel)\b|\brm\s+-\w*r|/etc/"
                       r"|cronkit serve\b(?!.*--help)|\bcurl\b.*(localhost|127\.0\.0\.1)"
                       r"|install --target systemd(?!.*(--unit-dir|--dry-run))", re.M)
RUNNABLE = [page for page in pages() if any(b.skip is None for b in blocks(page))]


def sandbox(tmp: Path) -> dict[str, str]:
    """Make the page's project directory; return the environment its examples run in."""
    (tmp / "home").mkdir()
    (tmp / "cron.d").mkdir()
    (tmp / ".venv").symlink_to(VENV)
    crontab = tmp / "crontab.sh"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    (tmp / "crontab.txt").write_text(FOREIGN_CRONTAB)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRONKIT_", "PYTHON"))}
    env.pop("XDG_STATE_HOME", None)
    env.update({"HOME": str(tmp), "CRONKIT_HOME": str(tmp / "home"), "CRONKIT_TASKS": "cronkit.tasks",
                "CRONKIT_CRONTAB_COMMAND": str(crontab), "FAKE_CRONTAB_FILE": str(tmp / "crontab.txt"),
                "CRONKIT_CRON_D": str(tmp / "cron.d"), "COLUMNS": "120", "PAGE_ENV": str(tmp / ".page-env"),
                "PATH": f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"})
    return env


def run_block(block: Block, tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one example in the page's sandbox."""
    python = str(VENV / "bin" / "python")
    if block.lang in ("sh", "bash", "console"):
        argv = ["bash", "-c", SHELL_PRELUDE + block.commands()]
    elif block.lang == "toml":
        config = tmp / f"example-{block.line}.toml"
        config.write_text(block.text)
        argv = [str(VENV / "bin" / "cronkit"), "--config", str(config), "list", "--json"]
    else:
        first = block.text.splitlines()[0] if block.text.strip() else ""
        header = FILE_HEADER.match(first)
        if header:
            target = tmp / header["path"]
            for parent in [p for p in target.relative_to(tmp).parents if str(p) != "."]:
                (tmp / parent).mkdir(exist_ok=True)
                (tmp / parent / "__init__.py").touch()
            target.write_text(block.text)
        else:
            target = tmp / f"example_{block.line}.py"
            uses_registry = re.search(r"\bregistry\.", block.text) and not re.search(r"^registry\s*=", block.text, re.M)
            target.write_text((PYTHON_PRELUDE if uses_registry else "") + block.text)
        argv = [python, "-c", "import runpy, sys; runpy.run_path(sys.argv[1], run_name='example')", str(target)]
    # A session of its own, so that whatever the example started goes with it, even on a timeout.
    proc = subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, out if proc.returncode is not None else "", err)


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_the_examples_of_a_page_run(page: Path, tmp_path: Path) -> None:
    env = sandbox(tmp_path)
    for block in blocks(page):
        if block.skip is not None:
            continue
        if block.lang in ("sh", "bash", "console"):
            code = re.sub(r"(^|\s)#.*", "", block.commands(), flags=re.M)  # comments may name anything
            assert not DANGEROUS.search(code), f"{block.where}: touches the host; mark it skip, with why"
        done = run_block(block, tmp_path, env)
        assert done.returncode == block.exit_code, (
            f"{block.where}: exit {done.returncode}, expected {block.exit_code}\n{block.text}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")
    crontab = (tmp_path / "crontab.txt").read_text() if (tmp_path / "crontab.txt").exists() else ""
    assert "15 * * * * /usr/bin/backup.sh" in crontab, f"{page}: the reader's own job is gone: {crontab!r}"


def test_every_page_marks_what_it_cannot_run_and_runs_the_rest() -> None:
    """Most examples run; each one that does not says why, next to it."""
    every = [b for page in pages() for b in blocks(page)]
    skipped = [b for b in every if b.skip is not None]
    assert all(len(b.skip or "") >= 10 for b in skipped), [b.where for b in skipped]
    assert len(every) - len(skipped) >= 20, f"only {len(every) - len(skipped)} of {len(every)} examples run"


def test_the_readme_keeps_the_two_set_up_commands() -> None:
    """The two commands a newcomer types first, exactly as .ci/run and the tests run them."""
    shell = [b.text.strip() for b in blocks(ROOT / "README.md") if b.lang == "sh"]
    assert "./install.sh && .venv/bin/cronkit demo run" in shell
    assert "./install.sh --dev && .venv/bin/python -m pytest" in shell
    assert "./install.sh --dev && .venv/bin/python -m pytest" in (ROOT / ".ci" / "run").read_text()
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300
