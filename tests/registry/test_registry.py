"""Registry (SPEC 3): registration, its checks, and loading a registry by name."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cronkit import Registry, TaskContext
from cronkit.config.values import parse_duration
from cronkit.errors import ConfigError, RegistryError, ScheduleError, UnknownTask
from cronkit.plain import FrozenInstanceError
from cronkit.registry import Task, check_task_tables, task_config
from cronkit.registry.loader import load_registry
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

_unique = itertools.count()


def test_decorator_records_every_option() -> None:
    registry = Registry()

    @registry.task("0 3 * * *", name="daily-session-cleanup", timezone="Europe/Paris",
                   environments=("production", "staging"), timeout="30m", retries=3, backoff="30s",
                   backoff_max="5m", singleton=False, lock_scope="local", redis_fallback=True,
                   grace="2m", description="Clean up sessions", defaults={"batch_size": 500})
    def cleanup(ctx: TaskContext) -> dict[str, Any]:
        return {"n": 1}

    assert cleanup.__name__ == "cleanup"  # the decorator returns the function itself
    task = registry["daily-session-cleanup"]
    assert task == Task(
        name="daily-session-cleanup", schedule="0 3 * * *", target=f"{__name__}:test_decorator_records_every_option.<locals>.cleanup",
        timezone="Europe/Paris", environments=("production", "staging"), timeout=1800.0, retries=3,
        backoff=30.0, backoff_max=300.0, singleton=False, lock_scope="local", redis_fallback=True,
        grace=120.0, concurrency="allow", catchup="latest", catchup_window=86400.0, catchup_max=24,
        description="Clean up sessions", defaults={"batch_size": 500},
    )
    assert task.load() is cleanup
    assert registry.names() == ["daily-session-cleanup"] and len(registry) == 1
    assert "daily-session-cleanup" in registry and list(registry) == [task]


def test_defaults_name_and_description_from_the_function() -> None:
    registry = Registry()

    @registry.task("@daily")
    def hourly_metrics_rollup(ctx: TaskContext) -> dict[str, Any]:
        """Roll up the metrics.

        More text.
        """
        return {}

    task = registry["hourly-metrics-rollup"]
    assert task.description == "Roll up the metrics."
    assert (task.timezone, task.environments, task.retries, task.singleton, task.lock_scope) == (
        None, ("production",), 0, True, "global")
    assert task.zone("Asia/Tokyo") == "Asia/Tokyo"
    assert task.runs_in("production") and not task.runs_in("development")


def test_task_is_frozen() -> None:
    registry = Registry()
    task = registry.add("* * * * *", "os:getcwd", name="frozen")
    with pytest.raises(FrozenInstanceError):
        setattr(task, "retries", 5)  # what mypy refuses to let a test write: the task refuses it too
    with pytest.raises(TypeError):
        task.defaults["x"] = 1  # type: ignore[index]  # the point: a read-only mapping refuses a write


def test_duplicate_name_is_rejected() -> None:
    registry = Registry()
    registry.add("* * * * *", "os:getcwd", name="twice")
    with pytest.raises(RegistryError, match="'twice': already registered"):
        registry.add("0 * * * *", "os:getpid", name="twice")
    assert registry["twice"].target == "os:getcwd"


@pytest.mark.parametrize("name", ["Upper", "-lead", "under_score", "a" * 65, "spa ce", "é"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(RegistryError, match="task name"):
        Registry().add("* * * * *", "os:getcwd", name=name)


@pytest.mark.parametrize("name", ["a", "0day", "a" * 64, "x-1-y"])
def test_valid_names(name: str) -> None:
    assert Registry().add("* * * * *", "os:getcwd", name=name).name == name


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("*/5 * * * * *", "no seconds field"),
        ("0 0 31 2 *", "day-of-month"),
        ("0 0 L * *", "day-of-month: 'L'"),
        ("0 0 * * 1#2", "day-of-week: '#'"),
        ("0 0 ? * *", "day-of-month: '?'"),
        ("0 0 15W * *", "day-of-month"),
        ("61 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 * 13 *", "month"),
        ("* * *", "expected 5"),
        ("@reboot", "@reboot"),
    ],
)
def test_bad_schedules_are_rejected_naming_the_field(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message) as info:
        Registry().add(schedule, "os:getcwd", name="bad")
    assert "task bad" in str(info.value) and info.value.exit_code == 78


@pytest.mark.parametrize("schedule", ["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "0 3 * * *",
                                      "*/15 8-18 * * 1-5", "0 9 * * mon", "0 0 29 2 *"])
def test_good_schedules(schedule: str) -> None:
    assert Registry().add(schedule, "os:getcwd", name="good").schedule == schedule


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"retries": -1}, "retries"),
        ({"retries": True}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"lock_scope": "cluster"}, "lock_scope"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": 0}, "timeout must be positive"),
        ({"timeout": "-5s"}, "timeout"),
        ({"backoff": "1x"}, "backoff"),
        ({"grace": True}, "grace"),
    ],
)
def test_bad_options_are_rejected_naming_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Registry().add("* * * * *", "os:getcwd", name="opt", **options)
    assert "task opt" in str(info.value)


def test_parse_duration() -> None:
    assert parse_duration("90") == 90.0
    assert parse_duration(2) == 2.0
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("2d") == 172800.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration(" 1.5m ") == 90.0
    for bad in ("", "m", "5 parsecs", "1h 30x"):
        with pytest.raises(RegistryError):
            parse_duration(bad)


def test_lazy_target_loads_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = f"lazy_mod_{next(_unique)}"
    (tmp_path / f"{module}.py").write_text("def work(ctx):\n    return {'lazy': True}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    task = registry.add("* * * * *", f"{module}:work", environments="*")
    assert task.name == "work" and task.environments == ("*",) and task.runs_in("anything")
    assert module not in sys.modules  # registration does not import the task's module
    assert task.load()(None) == {"lazy": True}
    with pytest.raises(RegistryError, match="'module:function'"):
        registry.add("* * * * *", "no_colon_here", name="x")
    with pytest.raises(RegistryError, match="cannot import"):
        registry.add("* * * * *", "no_such_module_anywhere:f", name="missing").load()
    with pytest.raises(RegistryError, match="is not a function"):
        registry.add("* * * * *", f"{module}:nothing", name="nothing").load()


def test_unknown_task_suggests_close_names() -> None:
    registry = Registry()
    for name in ("hourly-metrics", "daily-analytics-updates", "daily-log-pruning"):
        registry.add("* * * * *", "os:getcwd", name=name)
    with pytest.raises(UnknownTask, match="did you mean hourly-metrics") as info:
        registry["hourly-metric"]
    assert info.value.exit_code == 2
    with pytest.raises(Exception, match="^unknown task 'zzz'$"):
        registry["zzz"]


def test_task_config_merges_over_defaults_and_checks_types() -> None:
    registry = Registry()
    task = registry.add("* * * * *", "os:getcwd", name="t",
                        defaults={"batch_size": 100, "ratio": 0.5, "flag": True, "label": "x", "opt": None})
    assert task_config(task, {}) == {"batch_size": 100, "ratio": 0.5, "flag": True, "label": "x", "opt": None}
    assert task_config(task, {"batch_size": 5, "ratio": 1, "enabled": False, "opt": [1]})["batch_size"] == 5
    cases: list[tuple[dict[str, Any], str]] = [({"batch": 1}, "tasks.t.batch: unknown setting"),
                           ({"batch_size": "5"}, "tasks.t.batch_size: expected int"),
                           ({"batch_size": 1.5}, "expected int"),
                           ({"batch_size": True}, "expected int"),
                           ({"flag": 1}, "tasks.t.flag: expected bool"),
                           ({"enabled": "no"}, "tasks.t.enabled: must be true or false")]
    for table, message in cases:
        with pytest.raises(ConfigError, match=message):
            task_config(task, table)
    check_task_tables(registry, {"t": {"batch_size": 1}})
    with pytest.raises(ConfigError, match="tasks.ghost: no such task"):
        check_task_tables(registry, {"ghost": {}})


def test_enabled_in_follows_environments_and_enabled_flag() -> None:
    registry = Registry()
    registry.add("* * * * *", "os:getcwd", name="prod", environments=["production"])
    registry.add("* * * * *", "os:getcwd", name="both", environments=["production", "staging"])
    registry.add("* * * * *", "os:getcwd", name="any", environments="*")
    assert [t.name for t in registry.enabled_in("production", {})] == ["prod", "both", "any"]
    assert [t.name for t in registry.enabled_in("staging", {"both": {"enabled": False}})] == ["any"]


# -- loading ---------------------------------------------------------------------------------------

def make_package(root: Path, body: str) -> str:
    """Write a package `pkg_N/jobs.py` holding a registry; return the package name."""
    name = f"pkg_{next(_unique)}_{id(root) % 1000}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    write_registry(root / name / "jobs.py", body)
    return name


def test_load_from_module_module_attr_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    pkg = make_package(tmp_path, "other = Registry()\nregistry.add('@daily', 'os:getcwd', name='a')\n"
                                 "other.add('@daily', 'os:getcwd', name='b')\n")
    with pytest.raises(RegistryError, match="exactly one Registry .found 2.; name it with module:attr"):
        load_registry(f"{pkg}.jobs")
    by_attr = load_registry(f"{pkg}.jobs:other")
    assert by_attr.names() == ["b"] and by_attr.id == f"{pkg}.jobs" and by_attr.source == f"{pkg}.jobs:other"
    with pytest.raises(RegistryError, match="is not a Registry"):
        load_registry(f"{pkg}.jobs:missing")

    single = make_package(tmp_path, "registry.add('@daily', 'os:getcwd', name='only')\n")
    loaded = load_registry(f"{single}.jobs")
    assert loaded.names() == ["only"] and loaded.id == f"{single}.jobs"

    path = write_registry(tmp_path / f"file_reg_{next(_unique)}.py", "registry.add('@hourly', 'os:getcwd', name='f')\n")
    from_path = load_registry(str(path))
    assert from_path.names() == ["f"] and from_path.id == path.stem and from_path.source == str(path)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="file not found"):
        load_registry(str(tmp_path / "absent.py"))
    with pytest.raises(RegistryError, match="no_such_pkg_xyz.tasks failed to import: ModuleNotFoundError"):
        load_registry("no_such_pkg_xyz.tasks")
    broken = tmp_path / f"broken_{next(_unique)}.py"
    broken.write_text("def oops(:\n")
    with pytest.raises(RegistryError, match="failed to import: SyntaxError"):
        load_registry(str(broken))
    empty = tmp_path / f"empty_{next(_unique)}.py"
    empty.write_text("x = 1\n")
    with pytest.raises(RegistryError, match=r"found 0"):
        load_registry(str(empty))
    bad_schedule = write_registry(tmp_path / f"badsched_{next(_unique)}.py",
                                  "registry.add('0 0 30 2 *', 'os:getcwd', name='never')\n")
    with pytest.raises(ScheduleError, match="task never: day-of-month"):
        load_registry(str(bad_schedule))


# -- through the CLI -------------------------------------------------------------------------------

def test_cli_loads_a_package_module(run_cli: RunCli, tmp_path: Path) -> None:
    pkg = make_package(tmp_path, "@registry.task('@hourly', environments=['*'])\n"
                                 "def ping(ctx):\n    return {'pong': 1}\n")
    env = {"PYTHONPATH": str(tmp_path), "CRONKIT_TASKS": f"{pkg}.jobs:registry"}
    proc = run_cli("list", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [row["name"] for row in json.loads(proc.stdout)] == ["ping"]
    proc = run_cli("run", "ping", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] == {"pong": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("import no_such_dependency_xyz\n", "failed to import: ModuleNotFoundError: No module named 'no_such_dependency_xyz'"),
        ("raise RuntimeError('boom at import')\n", "failed to import: RuntimeError: boom at import"),
        ("registry.add('*/5 * * * * *', 'os:getcwd', name='sec')\n", "task sec: 6 fields: cron has no seconds field"),
        ("registry.add('* * * * *', 'os:getcwd', name='Bad_Name')\n", "task name 'Bad_Name'"),
    ],
)
def test_cli_registry_that_fails_to_load(run_cli: RunCli, tmp_path: Path, home: Path, body: str, message: str) -> None:
    path = write_registry(tmp_path / "failing.py", body)
    # `run` parses its command line by hand, the rest goes through typer: one case of each suffices there
    command = ("list",) if "no_such_dependency_xyz" in body else ("run", "anything")
    proc = run_cli(*command, env={"CRONKIT_TASKS": str(path)})
    assert proc.returncode == 78
    assert proc.stdout == ""
    assert proc.stderr.startswith("cronkit: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (home / "cronkit.db").exists()
    debug = run_cli("--debug", *command, env={"CRONKIT_TASKS": str(path)})
    assert debug.returncode == 78
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.rstrip().endswith(proc.stderr.rstrip())


def test_cli_history_does_not_need_the_registry(run_cli: RunCli, tmp_path: Path) -> None:
    path = write_registry(tmp_path / "failing.py", "import no_such_dependency_xyz\n")
    from cronkit import runlog
    from cronkit.config.settings import load_settings

    home = tmp_path / "home"  # read commands create no run log (issue 13): make one
    settings = load_settings(environ={"CRONKIT_HOME": str(home)})
    runlog.open(settings.db_url, create=True, settle=settings).close()
    proc = run_cli("history", "--json", env={"CRONKIT_TASKS": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_cli_names_in_lists_and_ranges_are_read_like_debian_cron(run_cli: RunCli, tmp_path: Path) -> None:
    # Debian's crontab installs `MON-FRI` and `mon,wed` and its daemon runs them.
    body = (
        "registry.add('0 9 * * MON-FRI', 'os:getcwd', name='weekdays')\n"
        "registry.add('0 9 1 jan,jul *', 'os:getcwd', name='halves')\n"
    )
    path = write_registry(tmp_path / "names.py", body)
    proc = run_cli("list", env={"CRONKIT_TASKS": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert "weekdays" in proc.stdout and "halves" in proc.stdout
    # A reversed range is refused (cron would read it as no day at all), naming the field.
    path = write_registry(tmp_path / "reversed.py", "registry.add('0 9 * * fri-mon', 'os:getcwd', name='weekend')\n")
    proc = run_cli("list", env={"CRONKIT_TASKS": str(path)})
    assert proc.returncode == 78
    assert proc.stderr.startswith("cronkit: error: task weekend: day-of-week: range 'fri-mon' is reversed")


def test_a_registry_file_named_like_a_library_does_not_shadow_it(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "helper_mod.py").write_text("VALUE = 42\n")
    registry = tmp_path / "json.py"  # the run path itself uses the json module
    registry.write_text(
        "from cronkit import Registry\nfrom helper_mod import VALUE\nregistry = Registry()\n"
        "@registry.task('* * * * *', environments=['*'])\ndef hello(ctx):\n    return {'v': VALUE}\n"
    )
    proc = run_cli("run", "hello", "--json", env={"CRONKIT_TASKS": str(registry)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] == {"v": 42}
    assert load_registry(str(registry)).id == "json"  # the block id stays the file's name


def test_a_function_that_cannot_take_the_context_is_refused_at_registration() -> None:
    registry = Registry()

    def no_ctx() -> dict[str, Any]:
        return {}

    def two(ctx: TaskContext, other: int) -> dict[str, Any]:
        return {}

    for func, shown in ((no_ctx, "no_ctx()"), (two, "two(ctx, other)")):
        with pytest.raises(RegistryError) as caught:
            registry.add("0 3 * * *", func)
        name = func.__name__.replace("_", "-")
        assert str(caught.value) == (f"task {name}: {shown} cannot take the context:"
                                     f" declare it as def {func.__name__}(ctx: TaskContext)")
        assert caught.value.exit_code == 78

    def fine(ctx: TaskContext, extra: int = 1) -> dict[str, Any]:
        return {}

    def anything(*args: object, **kwargs: object) -> dict[str, Any]:
        return {}

    registry.add("0 3 * * *", fine)
    registry.add("0 3 * * *", anything)
    registry.add("0 3 * * *", lambda ctx: {}, name="lam")
    # A lazy "module:function" target is checked when it is loaded (in the run).
    lazy = registry.add("0 3 * * *", "os:getpid", name="lazy")
    with pytest.raises(RegistryError, match="task lazy: getpid"):
        lazy.load()
