"""A registry of your own under the other schedulers: the systemd units (task and serve) find it the
way the cron lines do, from any working directory, with paths systemd must read back exactly; a
CronJob says where the image holds it. The units are read with a model of systemd's parser
(tests/systemd_unit.py) and checked by the real `systemd-analyze verify`."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import CRONKIT, free_port
from tests.systemd_unit import UnitError, parse_service, specifiers, split_words
from tests.targetcheck import need_systemd_analyze, validate

# Every character systemd treats specially in a unit, in the directories the units name.
AWKWARD = "my proj %h $HOME ${PATH} 'q' \"d\" back\\slash"

APP = '''from pathlib import Path

from cronkit import Registry, TaskContext

registry = Registry()


@registry.task("* * * * *", environments=("production",), defaults={"note": "no config file read"})
def every_minute(ctx: TaskContext) -> dict:
    (Path(__file__).parent / "ran").write_text(ctx.config["note"])
    return {"ok": 1}
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The README's layout in a directory whose name systemd would misread if it were not escaped,
    with a cronkit.toml there (found from the working directory: the units name it with --config)."""
    root = tmp_path / AWKWARD
    (root / "myapp").mkdir(parents=True)
    (root / "myapp" / "__init__.py").write_text("")
    (root / "myapp" / "cron.py").write_text(APP)
    (root / "cronkit.toml").write_text("[tasks.every-minute]\nnote = \"from the project's file\"\n")
    return root


@pytest.fixture
def app_env(cronkit_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = {**cronkit_env, "CRONKIT_TASKS": "myapp.cron", "CRONKIT_ENV": "production",
           "CRONKIT_HOME": str(tmp_path / "state dir")}
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def executable(tmp_path: Path) -> str:
    """This installation's cronkit, reached through a directory with a space, `%` and `$` in its name."""
    link_dir = tmp_path / "bin dir %i $PATH"
    link_dir.mkdir()
    (link_dir / "cronkit").symlink_to(CRONKIT)
    return str(link_dir / "cronkit")


def render(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRONKIT, "render", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def start_like_systemd(unit: str) -> subprocess.Popen[str]:
    """Start a unit's command as systemd would: its argv, a bare environment plus the unit's, and
    its WorkingDirectory= or else `/` (a system service), not the directory it was rendered in."""
    service = parse_service(unit)
    env = {"PATH": "/usr/bin:/bin", **service.environment}
    return subprocess.Popen(service.argv, env=env, cwd=service.working_directory or "/", text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_systemd_model_reads_what_systemd_reads() -> None:
    assert split_words('a "b c" \'d e\' f\\x20g "h\\"i" "j\\\\k"') == ["a", "b c", "d e", "f g", 'h"i', "j\\k"]
    assert specifiers("100%% of $$HOME") == "100% of $$HOME"
    with pytest.raises(UnitError):
        specifiers("%h")
    with pytest.raises(UnitError):
        split_words('"open')
    service = parse_service('[Service]\nExecStart=/bin/echo "$$HOME" ${A} $A\nEnvironment="A=1 2"\n')
    assert service.argv == ["/bin/echo", "$HOME", "1 2", "1", "2"]


def test_task_units_import_your_registry_from_any_directory(app_env: dict[str, str], project: Path,
                                                           executable: str, tmp_path: Path) -> None:
    units = tmp_path / "units"
    done = render(app_env, project, "--target", "systemd", "--executable", executable, "--output", str(units))
    assert done.returncode == 0, done.stderr
    unit = (units / "cronkit-every-minute.service").read_text()
    service = parse_service(unit)
    assert service.argv == [executable, "--config", str(project / "cronkit.toml"), "run", "every-minute",
                            "--trigger", "cron"]
    assert service.environment == {"CRONKIT_ENV": "production", "CRONKIT_TASKS": "myapp.cron",
                                   "CRONKIT_TASKS_PATH": str(project), "CRONKIT_TIMEZONE": "UTC",
                                   "CRONKIT_HOME": app_env["CRONKIT_HOME"]}

    # systemd itself reads the units without a complaint (it checks the executable it unquoted exists).
    analyze = need_systemd_analyze()
    verified = subprocess.run([analyze, "verify", "--man=no", *sorted(map(str, units.iterdir()))],
                              capture_output=True, text=True, timeout=120)
    assert (verified.returncode, verified.stderr) == (0, "")

    started = start_like_systemd(unit)
    out, err = started.communicate(timeout=120)
    assert (started.returncode, out, err) == (0, "", "")
    assert (project / "myapp" / "ran").read_text() == "from the project's file"
    history = subprocess.run([CRONKIT, "history", "--json"], env=app_env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    runs = json.loads(history.stdout)
    assert [(r["task"], r["trigger"], r["status"]) for r in runs] == [("every-minute", "cron", "succeeded")]


def test_the_serve_unit_imports_your_registry_from_any_directory(app_env: dict[str, str], project: Path,
                                                                executable: str) -> None:
    port = free_port()
    env = {**app_env, "CRONKIT_SERVE_PORT": str(port)}
    done = render(env, project, "--target", "serve-unit", "--executable", executable)
    assert done.returncode == 0, done.stderr
    service = parse_service(done.stdout)
    assert service.environment["CRONKIT_TASKS_PATH"] == str(project)
    server = start_like_systemd(done.stdout)
    try:
        # `cronkit serve` loads the registry before it listens: a registry that does not import
        # ends it at once (exit 78); one that does answers.
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "cronkit serve did not answer"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.communicate(timeout=60)


def test_an_executable_systemd_cannot_run_is_refused(app_env: dict[str, str], project: Path,
                                                     tmp_path: Path) -> None:
    link = tmp_path / "it's" / "cronkit"
    link.parent.mkdir()
    link.symlink_to(CRONKIT)
    done = render(app_env, project, "--target", "systemd", "--executable", str(link))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"cronkit: error: --executable: {str(link)!r}: systemd cannot run a path holding a "
                           "quote, a backslash or a control character\n")


def test_the_built_in_registry_needs_no_path(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    built_in = {**cronkit_env, "CRONKIT_ENV": "production", "CRONKIT_TASKS": "cronkit.tasks"}
    done = render(built_in, tmp_path, "--target", "systemd", "--executable", "/usr/local/bin/cronkit")
    assert done.returncode == 0, done.stderr
    assert "CRONKIT_TASKS_PATH" not in done.stdout
    cronjobs = render(built_in, tmp_path, "--target", "kubernetes")
    assert (cronjobs.returncode, cronjobs.stderr) == (0, "")


def test_cronjobs_of_your_registry_say_where_the_image_holds_it(app_env: dict[str, str], project: Path,
                                                               tmp_path: Path) -> None:
    unset = render(app_env, project, "--target", "kubernetes")
    assert unset.returncode == 0, unset.stderr
    assert unset.stderr == (f"cronkit: warning: registry myapp.cron is found in {project} on this host; the pods "
                            "find it only if the image cronkit:latest holds it: install the project into the "
                            "image, or copy it there and set [kubernetes] working_dir\n")
    assert "workingDir" not in unset.stdout and "CRONKIT_TASKS_PATH" not in unset.stdout

    # Here the "image" is this host: the project where working_dir says it is.
    config = tmp_path / "k8s.toml"
    config.write_text(f"[kubernetes]\nworking_dir = {json.dumps(str(project))}\n")  # a TOML basic string
    out = tmp_path / "k8s"
    done = render({**app_env, "CRONKIT_CONFIG": str(config)}, project, "--target", "kubernetes", "--output", str(out))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    document = yaml.safe_load((out / "every-minute.yaml").read_text())
    validate(document)
    container = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["workingDir"] == str(project)
    env = {item["name"]: item["value"] for item in container["env"] if "value" in item}
    assert env == {"CRONKIT_ENV": "production", "CRONKIT_TASKS": "myapp.cron", "CRONKIT_TASKS_PATH": str(project),
                   "CRONKIT_TIMEZONE": "UTC"}
    # The pod's command with the pod's variables, from elsewhere than its working directory: the task runs.
    pod_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CRONKIT_HOME": app_env["CRONKIT_HOME"], **env}
    ran = subprocess.run([CRONKIT, *container["args"]], env=pod_env, cwd="/", capture_output=True, text=True,
                         timeout=120)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert (project / "myapp" / "ran").read_text() == "no config file read"  # a pod reads no [tasks.*]


@pytest.mark.parametrize("value, message", [
    ('"app"', "kubernetes.working_dir: 'app' must be an absolute path in the image"),
    ("7", "kubernetes.working_dir: must be a non-empty string"),
])
def test_a_bad_working_dir_names_the_key(cronkit_env: dict[str, str], tmp_path: Path, value: str, message: str) -> None:
    config = tmp_path / "cronkit.toml"
    config.write_text(f"[kubernetes]\nworking_dir = {value}\n")
    done = render(cronkit_env, tmp_path, "--target", "kubernetes")
    assert (done.returncode, done.stderr) == (78, f"cronkit: error: {message}\n")


def test_unit_words_round_trip_through_the_model() -> None:
    from cronkit.targets.systemd import systemd_executable, systemd_word

    for text in ["plain", "", "a b", "100%", "$HOME", "${X}", "'", '"', "\\", "tab\there", "new\nline", "é ü"]:
        assert split_words(specifiers(systemd_word(text))) == [text]
        argument = parse_service(f"[Service]\nExecStart=/bin/x {systemd_word(text, argument=True)}\n")
        assert argument.argv == ["/bin/x", text]
    assert parse_service(f"[Service]\nExecStart={systemd_executable('/a b/%i/$X/c')} run\n").argv == [
        "/a b/%i/$X/c", "run"]
