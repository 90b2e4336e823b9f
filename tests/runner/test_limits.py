"""Per-task limits (SPEC section 18), with real processes: a task that allocates past its memory
limit, one that spins past its CPU limit, one that opens too many files, one that writes too big a
file; each run `failed` with an error naming the limit and a dead letter. And their renderings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cronkit import Registry
from cronkit.errors import RegistryError
from cronkit.registry.limits import kubernetes_limits, systemd_lines
from tests.conftest import write_registry
from tests.fixturetypes import RunCli

TASKS = '''
@registry.task("0 3 * * *", name="hog", environments=["*"], timeout="60s", limits={"memory": "256M"})
def hog(ctx):
    blocks = [bytearray(64 * 1024 * 1024) for _ in range(16)]  # 1 GiB
    return {"blocks": len(blocks)}


@registry.task("0 3 * * *", name="spin", environments=["*"], timeout="120s", limits={"cpu": "2s"})
def spin(ctx):
    n = 0
    while True:
        n += 1


@registry.task("0 3 * * *", name="files", environments=["*"], timeout="60s", limits={"nofile": 32})
def files(ctx):
    return {"opened": len([open(__file__) for _ in range(100)])}


@registry.task("0 3 * * *", name="big", environments=["*"], timeout="60s", limits={"fsize": "1M"})
def big(ctx):
    with open(ctx.params["path"], "wb") as fh:
        fh.write(b"x" * (4 * 1024 * 1024))


@registry.task("0 3 * * *", name="gentle", environments=["*"], timeout="60s", nice=10,
               limits={"memory": "1G", "nofile": 256})
def gentle(ctx):
    return {"nice": os.nice(0), "files": len([open(__file__) for _ in range(50)])}
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CRONKIT_TASKS": str(write_registry(tmp_path / "limits_registry.py", TASKS))}


@pytest.mark.parametrize(("task", "error"), [
    ("hog", "memory limit 256M exceeded"),
    ("spin", "cpu limit 2s exceeded"),
    ("files", "nofile limit 32 exceeded (too many open files)"),
    ("big", "fsize limit 1M exceeded (file too large)"),
])
def test_a_run_stopped_by_its_limit_names_it(task: str, error: str, run_cli: RunCli, env: dict[str, str],
                                             tmp_path: Path) -> None:
    done = run_cli("run", task, "--param", f"path={tmp_path / 'big.bin'}", "--json", env=env)
    assert done.returncode == 1, done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["status"], outcome["error"]) == ("failed", error)
    assert outcome["dead_letter_id"] is not None
    letters = json.loads(run_cli("dlq", "list", "--json", env=env).stdout)
    assert [(d["task"], d["error"]) for d in letters] == [(task, error)]


def test_limits_and_nice_leave_a_task_within_them_alone(run_cli: RunCli, env: dict[str, str]) -> None:
    done = run_cli("run", "gentle", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {"nice": 10, "files": 50}


@pytest.mark.parametrize(("options", "message"), [
    ({"limits": {"memroy": "1G"}}, "task t: limits.memroy: unknown limit (known: memory, cpu, nofile, nproc, fsize)"),
    ({"limits": {"memory": "lots"}}, "task t: limits.memory: 'lots' is not a size such as 512M, 1G or 65536"),
    ({"limits": {"cpu": "0s"}}, "task t: limits.cpu: must be at least 1s of CPU time"),
    ({"limits": {"nofile": 0}}, "task t: limits.nofile: must be a whole number > 0"),
    ({"nice": 30}, "task t: nice must be a whole number from -20 to 19"),
    ({"user": "no body"}, "task t: user 'no body' is not a user name"),
])
def test_bad_limits_fail_at_registration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        Registry().add("0 3 * * *", "os:getcwd", name="t", **options)
    assert str(caught.value) == message


def test_limits_as_systemd_and_kubernetes_write_them() -> None:
    task = Registry().add("0 3 * * *", "os:getcwd", name="t", nice=5,
                          limits={"memory": "512M", "cpu": "10m", "nofile": 1024, "nproc": 64, "fsize": "1G"})
    assert systemd_lines(task.limits) == ["MemoryMax=536870912", "LimitCPU=600", "LimitNOFILE=1024",
                                          "LimitNPROC=64", "Nice=5"]  # fsize: on the attempt only
    resources, notes = kubernetes_limits(task.limits)
    assert resources == {"memory": "512Mi"}
    assert notes[0] == "limits.cpu 10m has no container limit: cronkit sets it on the task's process in the pod"
    assert len(notes) == 5


def test_a_task_user_runs_its_cron_d_lines_and_its_systemd_unit(run_cli: RunCli, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "user_registry.py", (
        "registry.add('0 3 * * *', 'os:getcwd', name='as-app', environments=['*'], user='app',\n"
        "             limits={'memory': '512M'}, nice=10)\n"
        "registry.add('0 4 * * *', 'os:getcwd', name='as-block', environments=['*'])\n"))
    env = {"CRONKIT_TASKS": str(registry)}
    rendered = run_cli("render", "--target", "cron.d", "--user", "ops", "--host-zone", "UTC",
                       "--executable", "/usr/local/bin/cronkit", env=env)
    assert rendered.returncode == 0, rendered.stderr
    lines = [line for line in rendered.stdout.splitlines() if " run " in line and not line.startswith("#")]
    assert lines[0].startswith("0 3 * * * app /usr/local/bin/cronkit") and lines[1].startswith("0 4 * * * ops ")
    out = tmp_path / "units"
    units = run_cli("render", "--target", "systemd", "--output", str(out), "--executable", "/usr/local/bin/cronkit",
                    env=env)
    assert units.returncode == 0, units.stderr
    service = next(out.glob("*as-app.service")).read_text()
    assert "User=app\n" in service and "MemoryMax=536870912\n" in service and "Nice=10\n" in service


def test_a_cronjob_seals_as_the_host_does(run_cli: RunCli, tmp_path: Path) -> None:
    """encrypt_payloads reaches the pods: a CronJob of an encrypting setup says so (its key comes from the Secret)."""
    registry = write_registry(tmp_path / "k8s_registry.py", "registry.add('0 3 * * *', 'os:getcwd', name='t', environments=['*'])\n")
    env = {"CRONKIT_TASKS": str(registry), "CRONKIT_SECRET_KEY": "k" * 32, "CRONKIT_ENCRYPT_PAYLOADS": "true"}
    out = tmp_path / "k8s"
    done = run_cli("render", "--target", "kubernetes", "--output", str(out), env=env)
    assert done.returncode == 0, done.stderr
    manifest = next(out.glob("*.yaml")).read_text()
    assert "- name: CRONKIT_ENCRYPT_PAYLOADS\n              value: 'true'\n" in manifest
