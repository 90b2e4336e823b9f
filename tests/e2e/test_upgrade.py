"""An upgrade as an operator does it: an older release installed into a venv and used (runs, a dead
letter, a token, a block installed through a stand-in crontab command), then `pip install -U` of
this release into the same venv. Every row is kept, a copy of the run log from before the migration
is there in its old schema, the reinstall names the lines it adds, the version and changelog say
what is installed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from cronkit import __version__
from cronkit.runlog import SCHEMA_VERSION
from tests.conftest import need
from tests.paths import REPO

ROOT = REPO
# Older releases, as commits of this repository: (commit, release, its run log schema).
RELEASES = {
    "0.1.0": ("e48ec32", 2),  # the first wave: install, run, history; no `cronkit check` lines
    "0.2.0": ("69ffac2", 7),  # the second wave: serve and tokens, notifications, check lines
}
FAKE_CRONTAB = """#!/bin/sh
# A stand-in for crontab(1): the crontab is the file $FAKE_CRONTAB_FILE.
case "$1" in
  -l) [ -f "$FAKE_CRONTAB_FILE" ] || { echo "no crontab for $(id -un)" >&2; exit 1; }; cat "$FAKE_CRONTAB_FILE" ;;
  -r) rm -f "$FAKE_CRONTAB_FILE" ;;
  -) cat > "$FAKE_CRONTAB_FILE" ;;
  *) echo "fake crontab: unsupported $*" >&2; exit 2 ;;
esac
"""
REGISTRY = """from cronkit import Registry

registry = Registry()


@registry.task("0 3 * * *", name="nightly", environments=["*"])
def nightly(ctx):
    return {"ok": True}


@registry.task("0 4 * * *", name="broken", environments=["*"])
def broken(ctx):
    raise RuntimeError("disk on fire")
"""


def pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def wheel_of(source: Path, into: Path) -> Path:
    # This run's own setuptools (locked, and new enough for every release's build-system) builds it:
    # an isolated build would install setuptools into a fresh environment for each wheel.
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(into), str(source))
    [wheel] = [p for p in into.glob("cronkit-*.whl") if p.stat().st_mtime >= source.stat().st_mtime - 1]
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheels of the older releases (built from their commits) and of this checkout."""
    if not (ROOT / ".git").exists() or subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", f"{RELEASES['0.1.0'][0]}^{{commit}}"],
            capture_output=True).returncode != 0:
        need("this repository's history", "run the tests in a full git clone")
    built: dict[str, Path] = {}
    for release, (commit, _schema) in RELEASES.items():
        source = tmp_path_factory.mktemp(f"src-{release}")
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        built[release] = wheel_of(source, tmp_path_factory.mktemp(f"wheel-{release}"))
    built["new"] = wheel_of(ROOT, tmp_path_factory.mktemp("wheel-new"))
    return built


def make_venv(path: Path) -> Path:
    """A venv whose dependencies are this test run's own, so that only cronkit is installed in it.

    They come through a .pth naming a folder of links to every package of this run's venv but
    cronkit: pip must not see (and replace) this run's own cronkit.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    own = Path(subprocess.run([str(path / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip())
    deps = path / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("cronkit", "__editable__")) and not entry.name.endswith(".pth"):
            (deps / entry.name).symlink_to(entry)
    (own / "deps.pth").write_text(f"{deps}\n")
    return path / "bin" / "python"


@pytest.mark.slow
@pytest.mark.parametrize("release", list(RELEASES))
def test_upgrade_in_place_keeps_everything(release: str, wheels: dict[str, Path], tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    cronkit = str(python.parent / "cronkit")
    pip("--python", str(python), "install", "--no-deps", str(wheels[release]))
    crontab = tmp_path / "crontab.sh"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    (tmp_path / "app.py").write_text(REGISTRY)
    home = tmp_path / "home"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CRONKIT_HOME": str(home),
           "CRONKIT_TASKS": str(tmp_path / "app.py"), "CRONKIT_CRONTAB_COMMAND": str(crontab),
           "FAKE_CRONTAB_FILE": str(tmp_path / "crontab.txt"), "COLUMNS": "200"}
    foreign = "MAILTO=ops@example.com\n15 * * * * /usr/bin/backup.sh\n"
    (tmp_path / "crontab.txt").write_text(foreign)

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([cronkit, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert not ok or done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    # The old release, used for a while.
    cli("run", "nightly")
    cli("run", "broken", ok=False)
    fixed = ("--host-zone", "UTC", "--executable", "/usr/local/bin/cronkit")
    cli("install", *fixed)
    if release != "0.1.0":
        cli("token", "create", "ops", "--scope", "read")
    database = home / "cronkit.db"
    with sqlite3.connect(database) as conn:
        before = {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                  for table in ("runs", "attempts", "dead_letters", "meta")
                  + (("api_tokens", "audit") if release != "0.1.0" else ())}
    old_block = (tmp_path / "crontab.txt").read_text()
    assert before["dead_letters"] and len(before["runs"]) == 2

    # `pip install -U` of this release into the same venv; the home and the crontab untouched.
    pip("--python", str(python), "install", "--no-deps", "-U", str(wheels["new"]))
    assert cli("--version").stdout.strip() == __version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in changelog

    history = cli("history", "--json")
    if SCHEMA_VERSION > RELEASES[release][1]:
        copies = list((home / "backups").glob(f"cronkit-schema{RELEASES[release][1]}-cronkit{release}-*.db"))
        assert len(copies) == 1, list((home / "backups").iterdir())
        assert f"the copy from before is {copies[0]}" in history.stderr
        with sqlite3.connect(copies[0]) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == RELEASES[release][1]
            assert conn.execute("SELECT * FROM runs ORDER BY 1").fetchall() == before["runs"]
    assert [run["id"] for run in json.loads(history.stdout)] == [row[0] for row in reversed(before["runs"])]
    with sqlite3.connect(database) as conn:
        for table, rows in before.items():
            if table == "meta":
                continue
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
            kept = conn.execute(f"SELECT {', '.join(columns[:len(rows[0])] if rows else columns)} FROM {table} ORDER BY 1").fetchall()
            assert kept == rows, table
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert (tmp_path / "crontab.txt").read_text() == old_block  # nothing rewrote the crontab by itself

    # The reinstall says what it does, cronkit's own lines included.
    again = cli("install", *fixed)
    if release == "0.1.0":  # its block had no `cronkit check` lines
        assert "added cronkit check: */5 * * * * /usr/local/bin/cronkit" in again.stdout
        assert "1 added, 0 changed, 0 removed, 2 unchanged" in again.stdout
    else:
        assert "0 added" in again.stdout.splitlines()[-1]
    assert (tmp_path / "crontab.txt").read_text().startswith(foreign)
    if release != "0.1.0":
        tokens = cli("token", "list", "--json")
        assert [t["name"] for t in json.loads(tokens.stdout)] == ["ops"]
