"""Several registries (SPEC 17): a comma-separated `registry`, `plugin:NAME` from an installed
distribution (built and pip-installed here), a name defined twice, and where `list` says tasks come from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CRONKIT, write_registry

PLUGIN_PYPROJECT = """[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "shop-jobs"
version = "1.2.0"

[project.entry-points."cronkit.registries"]
shop = "shop_jobs.cron:registry"
"""
PLUGIN_MODULE = """from cronkit import Registry

registry = Registry()
registry.command("0 4 * * *", "echo shop report for $CRONKIT_TASK", name="shop-report", environments="*")


@registry.task("30 4 * * *", name="shop-sync", environments="*")
def sync(ctx):
    return {"synced": 3}
"""


def cronkit(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRONKIT, *args], env={**env, **extra}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    first = write_registry(tmp_path / "billing.py", '@registry.task("0 1 * * *", environments="*")\n'
                           "def invoice(ctx):\n    return {}\n")
    second = write_registry(tmp_path / "ops.py", 'registry.command("*/5 * * * *", "true", name="ping", '
                            'environments="*")\n')
    return first, second


def test_a_comma_separated_registry_loads_both_and_list_says_where_from(cronkit_env: dict[str, str], two: tuple[Path, Path]) -> None:
    first, second = two
    env = {**cronkit_env, "CRONKIT_TASKS": f"{first}, {second},{first}"}  # a file named twice loads once
    listed = cronkit(env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(row["name"], row["source"]) for row in json.loads(listed.stdout)] == [
        ("invoice", str(first)), ("ping", str(second))]
    table = cronkit(env, "list")
    assert table.stdout.splitlines()[2].endswith("  from") and str(second) in table.stdout
    shown = cronkit(env, "list", "ping")
    assert f"  defined in    {second}\n" in shown.stdout and "  command       /bin/sh -c 'true'\n" in shown.stdout
    assert cronkit(env, "run", "ping").returncode == 0
    assert cronkit(env, "run", "invoice").returncode == 0


def test_a_name_defined_twice_names_both_sources(cronkit_env: dict[str, str], two: tuple[Path, Path], tmp_path: Path) -> None:
    first, _ = two
    again = write_registry(tmp_path / "more.py", 'registry.command("0 2 * * *", "true", name="invoice")\n')
    for command in (("list",), ("run", "invoice")):
        done = cronkit({**cronkit_env, "CRONKIT_TASKS": f"{first},{again}"}, *command)
        assert done.returncode == 78
        assert done.stderr == f"cronkit: error: task 'invoice' is defined twice: in {first} and in {again}\n"


def test_a_plugin_distribution_built_and_installed_publishes_its_registry(cronkit_env: dict[str, str], two: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    source = tmp_path / "shop-jobs"
    (source / "src" / "shop_jobs").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (source / "src" / "shop_jobs" / "__init__.py").write_text("")
    (source / "src" / "shop_jobs" / "cron.py").write_text(PLUGIN_MODULE)
    target = tmp_path / "site"
    # Built with this run's locked setuptools: an isolated build would install setuptools first.
    built = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    first, _ = two
    env = {**cronkit_env, "PYTHONPATH": str(target), "CRONKIT_TASKS": f"{first},plugin:shop"}
    listed = cronkit(env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    origin = "plugin:shop (shop_jobs.cron:registry, shop-jobs 1.2.0)"
    assert [(row["name"], row["source"]) for row in json.loads(listed.stdout)] == [
        ("invoice", str(first)), ("shop-report", origin), ("shop-sync", origin)]
    ran = cronkit(env, "run", "shop-sync", "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout)["result"] == {"synced": 3}
    assert cronkit(env, "run", "shop-report").returncode == 0
    rendered = cronkit(env, "render", "--target", "systemd")
    assert f"Environment=CRONKIT_TASKS={first},plugin:shop\n" in rendered.stdout, rendered.stderr

    missing = cronkit(env, "list", CRONKIT_TASKS="plugin:nothing")
    assert missing.returncode == 78
    assert missing.stderr == ("cronkit: error: registry: plugin:nothing: no installed distribution publishes "
                              "'nothing' in the cronkit.registries entry point group (shop)\n")


def test_the_run_path_scans_distributions_only_for_a_plugin(cronkit_env: dict[str, str], two: tuple[Path, Path]) -> None:
    """Reading every installed distribution's metadata costs a cron tick: only `plugin:` may pay it."""
    first, second = two
    env = {**cronkit_env, "CRONKIT_TASKS": f"{first},{second}"}
    assert cronkit(env, "run", "ping").returncode == 0  # the first run creates the run log (SQLAlchemy)
    done = subprocess.run([sys.executable, "-X", "importtime", CRONKIT, "run", "ping"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "cronkit.registry.sets" in imported and "importlib.metadata" not in imported
