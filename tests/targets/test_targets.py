"""targets: Kubernetes CronJobs and systemd timers rendered from the registry, checked by the real tools.

The Kubernetes files are validated against the API schemas kubernetes-validate ships (no
network); the systemd timers' instants come from the real `systemd-analyze calendar`, and the
units pass `systemd-analyze verify`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cronkit.config.settings import load_settings
from cronkit.errors import ConfigError, RegistryError
from cronkit.registry import Registry
from cronkit.registry.loader import load_registry
from cronkit.schedule import slots_between, zone_info
from cronkit.targets import joined
from cronkit.targets.kubernetes import MAX_NAME, kubernetes_schedule, object_name
from cronkit.targets.kubernetes import render as render_kubernetes
from cronkit.targets.systemd import calendar_expressions
from cronkit.targets.systemd import render as render_systemd
from tests import robfig
from tests.conftest import write_registry
from tests.fixturetypes import RunCli
from tests.paths import REPO
from tests.targetcheck import need_systemd_analyze, validate

EXECUTABLE = "/usr/local/bin/cronkit"


def settings_for(tmp_path: Path, toml: str = "", environment: str = "production", **env: str) -> Any:
    config = tmp_path / "cronkit.toml"
    config.write_text(toml)
    return load_settings({"environment": environment}, config_path=str(config),
                         environ={"CRONKIT_HOME": str(tmp_path / "home"), "CRONKIT_TASKS": "cronkit.tasks", **env})


@pytest.fixture
def cronkit_env(cronkit_env: dict[str, str]) -> dict[str, str]:
    """These tests render the built-in registry, named explicitly (no registry configured is an error)."""
    cronkit_env["CRONKIT_TASKS"] = "cronkit.tasks"
    return cronkit_env


def registry() -> Registry:
    reg = Registry(id="app")
    reg.add("0 3 * * *", "os:getcwd", name="nightly", timezone="Europe/Paris", timeout="30m")
    reg.add("*/15 * * * *", "os:getcwd", name="often", singleton=False, grace="2m")
    reg.add("0 9 * * 1-5", "os:getcwd", name="weekdays", timezone="America/New_York", concurrency="replace",
            catchup="all", catchup_window="6h")
    reg.add("0 0 1,15 * 7", "os:getcwd", name="fortnight-or-sunday", timezone="UTC")
    reg.add("5 4 * * *", "os:getcwd", name="staging-only", environments=["staging"])
    reg.add("0 6 * * *", "os:getcwd", name="switched-off")
    return reg


# --- registry options (SPEC section 12) ---------------------------------------------------------


def test_task_options_default_from_the_schedule_and_the_singleton_flag() -> None:
    reg = registry()
    assert (reg["nightly"].concurrency, reg["nightly"].catchup) == ("forbid", "latest")
    assert (reg["often"].concurrency, reg["often"].singleton, reg["often"].catchup) == ("allow", False, "skip")
    weekdays = reg["weekdays"]
    assert (weekdays.concurrency, weekdays.singleton, weekdays.catchup, weekdays.catchup_window) == (
        "replace", True, "all", 6 * 3600)
    assert (reg["nightly"].catchup_window, reg["nightly"].catchup_max, reg["nightly"].grace) == (86400, 24, 300)
    allow = Registry().add("0 * * * *", "os:getcwd", name="a", concurrency="allow")
    assert (allow.singleton, allow.catchup) == (False, "latest")  # hourly: an hour or more apart
    assert Registry().add("0,30 * * * *", "os:getcwd", name="b").catchup == "skip"


@pytest.mark.parametrize(("options", "message"), [
    ({"concurrency": "sometimes"}, "concurrency must be 'forbid', 'allow' or 'replace'"),
    ({"singleton": False, "concurrency": "forbid"}, "singleton=False contradicts concurrency='forbid'"),
    ({"singleton": True, "concurrency": "allow"}, "singleton=True contradicts concurrency='allow'"),
    ({"catchup": "never"}, "catchup must be 'skip', 'latest' or 'all'"),
    ({"catchup_window": "soon"}, "catchup_window: 'soon' is not a duration"),
    ({"catchup_window": "10s"}, "catchup_window must be at least 1m"),
    ({"catchup_max": 0}, "catchup_max must be a whole number from 1 to 200"),
    ({"catchup_max": True}, "catchup_max must be a whole number from 1 to 200"),
    ({"catchup_max": 201}, "catchup_max must be a whole number from 1 to 200"),  # past the window catch-up reads
])
def test_bad_task_options_name_the_task_and_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError) as raised:
        Registry().add("0 3 * * *", "os:getcwd", name="job", **options)
    assert str(raised.value).startswith("task job: ")
    assert message in str(raised.value)


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("toml", "message"), [
    ("[kubernetes]\nimgae = 'x'\n", "kubernetes.imgae: unknown setting"),
    ("[kubernetes]\nnamespace = 'Prod_1'\n", "kubernetes.namespace: 'Prod_1' is not a namespace name"),
    ("[kubernetes]\nsecret_name = ''\n", "kubernetes.secret_name: '' is not a Secret name"),
    ("[kubernetes]\nresources = {requests = {cpu = 'lots'}}\n", "kubernetes.resources.requests.cpu: 'lots' is not a quantity"),
    ("[kubernetes]\nresources = {wants = {cpu = '1'}}\n", "kubernetes.resources.wants: unknown setting"),
    ("[kubernetes]\nenv_from = ['vault/x']\n", "kubernetes.env_from: 'vault/x' is not secret/NAME or configmap/NAME"),
    ("[kubernetes]\nfailed_jobs_history_limit = -1\n", "kubernetes.failed_jobs_history_limit: must be a whole number from 0 to 2147483647"),
    ("kubernetes = 3\n", "'kubernetes' must be a [kubernetes] table"),
    ("[systemd]\nunit_prefix = 'a b'\n", "systemd.unit_prefix: 'a b' is not a unit name prefix"),
    ("[systemd]\nprefix = 'x-'\n", "systemd.prefix: unknown setting"),
    ("[systemd]\nenvironment_file = 'rel/env'\n", "systemd.environment_file: 'rel/env' must be an absolute path"),
])
def test_bad_scheduler_settings_are_config_errors_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_for(tmp_path, toml)
    assert message in str(raised.value)
    assert raised.value.exit_code == 78


# --- Kubernetes ---------------------------------------------------------------------------------

K8S_TOML = """\
[kubernetes]
image = "registry.example.com/app/cronkit:1.4.2"
namespace = "batch"
secret_name = "cronkit-urls"
service_account = "cronkit-runner"
env_from = ["configmap/app-settings", "secret/app-env"]
resources = {requests = {cpu = "250m", memory = "256Mi"}, limits = {cpu = 1, memory = "1Gi"}}

[tasks.switched-off]
enabled = false
"""


def test_cronjobs_carry_the_task_policy_and_validate(tmp_path: Path) -> None:
    secret_url = "postgresql://cronkit:hunter2-s3cret@db.internal/cronkit"
    settings_ = settings_for(tmp_path, K8S_TOML, CRONKIT_DB_URL=secret_url,
                             CRONKIT_REDIS_URL="redis://:redis-pass-42@redis:6379/0")
    files = render_kubernetes(registry(), settings_)
    assert sorted(files) == ["fortnight-or-sunday.yaml", "nightly.yaml", "often.yaml", "switched-off.yaml",
                             "weekdays.yaml"]
    docs = {name: yaml.safe_load(text) for name, text in files.items()}
    for name, doc in docs.items():
        validate(doc)
        assert "hunter2" not in files[name] and "redis-pass" not in files[name]
    nightly = docs["nightly.yaml"]
    assert nightly["metadata"] == {
        "name": "nightly", "namespace": "batch",
        "labels": {"app.kubernetes.io/name": "cronkit", "cronkit/task": "nightly"},
        "annotations": {"cronkit/task-name": "nightly", "cronkit/schedule": "0 3 * * *"},
    }
    spec = nightly["spec"]
    assert {k: v for k, v in spec.items() if k != "jobTemplate"} == {
        "schedule": "0 3 * * *", "timeZone": "Europe/Paris", "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 86400, "suspend": False,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 5,
    }
    job = spec["jobTemplate"]["spec"]
    assert (job["backoffLimit"], job["activeDeadlineSeconds"]) == (0, 1800 + 60)
    pod = job["template"]["spec"]
    assert (pod["restartPolicy"], pod["serviceAccountName"]) == ("Never", "cronkit-runner")
    [container] = pod["containers"]
    assert container["image"] == "registry.example.com/app/cronkit:1.4.2"
    assert container["command"] + container["args"] == ["cronkit", "run", "nightly", "--trigger", "cron"]
    assert container["envFrom"] == [{"configMapRef": {"name": "app-settings"}}, {"secretRef": {"name": "app-env"}}]
    assert container["resources"] == {"requests": {"cpu": "250m", "memory": "256Mi"},
                                      "limits": {"cpu": "1", "memory": "1Gi"}}
    env = {item["name"]: item for item in container["env"]}
    assert env["CRONKIT_DB_URL"] == {"name": "CRONKIT_DB_URL", "valueFrom": {
        "secretKeyRef": {"name": "cronkit-urls", "key": "CRONKIT_DB_URL"}}}
    assert env["CRONKIT_REDIS_URL"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["CRONKIT_ENV"]["value"] == "production"
    # Policies per task: allow (singleton=False) with its grace, replace with its catch-up window.
    assert (docs["often.yaml"]["spec"]["concurrencyPolicy"], docs["often.yaml"]["spec"]["startingDeadlineSeconds"]) == (
        "Allow", 120)
    assert (docs["weekdays.yaml"]["spec"]["concurrencyPolicy"],
            docs["weekdays.yaml"]["spec"]["startingDeadlineSeconds"]) == ("Replace", 6 * 3600)
    assert docs["switched-off.yaml"]["spec"]["suspend"] is True
    # Debian's 7 (Sunday) is robfig's 0; both day fields restricted stay plain lists (OR).
    assert docs["fortnight-or-sunday.yaml"]["spec"]["schedule"] == "0 0 1,15 * 0"
    assert render_kubernetes(registry(), settings_) == files  # deterministic


def test_a_broken_cronjob_fails_validation(tmp_path: Path) -> None:
    import kubernetes_validate

    doc = yaml.safe_load(render_kubernetes(registry(), settings_for(tmp_path))["nightly.yaml"])
    doc["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "none"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(doc)


def test_long_task_names_fit_the_cronjob_limit_and_stay_distinct(tmp_path: Path) -> None:
    reg = Registry(id="app")
    long_a, long_b = "a" * 50 + "-report-one", "a" * 50 + "-report-two"
    for name in (long_a, long_b, "ends-with-dash-", "x" * 52):
        reg.add("0 3 * * *", "os:getcwd", name=name)
    names = {object_name(task.name) for task in reg}
    assert len(names) == 4
    assert object_name("x" * 52) == "x" * 52
    for task in reg:
        name = object_name(task.name)
        assert len(name) <= MAX_NAME and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
    docs = [yaml.safe_load(text) for text in render_kubernetes(reg, settings_for(tmp_path)).values()]
    for doc in docs:
        validate(doc)
        labels = doc["metadata"]["labels"]
        assert len(labels["cronkit/task"]) <= 63 and not labels["cronkit/task"].endswith("-")
    assert sorted(doc["metadata"]["annotations"]["cronkit/task-name"] for doc in docs) == sorted(reg.names())


@pytest.mark.parametrize(("schedule", "expected", "exact"), [
    ("@daily", "0 0 * * *", True),
    ("30 2 * * 7", "30 2 * * 0", True),
    ("0 0 * * 5-7", "0 0 * * 0,5,6", True),
    ("0 0 1-31 * 1", "0 0 * * *", True),  # cron's OR of every day-of-month is every day
    ("0 0 */2 * 1-5", "0 0 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29,31 * *", False),
    ("0-59/20 */6 * feb *", "0-59/20 */6 * feb *", True),
])
def test_schedules_are_rewritten_for_robfig(schedule: str, expected: str, exact: bool) -> None:
    assert kubernetes_schedule(schedule) == (expected, exact)


# --- systemd -----------------------------------------------------------------------------------


def systemd_instants(expressions: list[str], start: datetime, end: datetime, limit: int) -> set[datetime]:
    """Return the instants in (start, end] at which `systemd-analyze calendar` says the lines elapse."""
    found: set[datetime] = set()
    for expression in expressions:
        done = subprocess.run(
            [need_systemd_analyze(), "calendar", f"--iterations={limit}", f"--base-time=@{int(start.timestamp())}",
             expression], capture_output=True, text=True, env={**os.environ, "TZ": "UTC"}, check=True)
        times = [datetime.strptime(m, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for m in
                 re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", done.stdout)]
        assert times, done.stdout
        assert len(times) < limit or times[-1] > end, f"raise the iterations for {expression}"
        found.update(t for t in times if t <= end)
    return found


@pytest.mark.parametrize(("schedule", "zone", "expressions"), [
    ("0 3 * * *", "Europe/Paris", ["*-*-* 03:00:00 Europe/Paris"]),
    ("*/15 * * * *", "America/New_York", ["*-*-* *:00,15,30,45:00 UTC"]),
    ("*/15 * * * *", "Australia/Lord_Howe", ["*-*-* *:00,15,30,45:00 Australia/Lord_Howe"]),
    ("0 9 * * 1-5", "America/New_York", ["Mon..Fri *-*-* 09:00:00 America/New_York"]),
    ("0 0 1,15 * 7", "UTC", ["*-*-01,15 00:00:00 UTC", "Sun *-*-* 00:00:00 UTC"]),
    ("0 0 */2 * 1", "UTC",
     ["Mon *-*-01,03,05,07,09,11,13,15,17,19,21,23,25,27,29,31 00:00:00 UTC"]),
    ("15 1-4 * 1,6-8 *", "Asia/Kolkata", ["*-01,06..08-* 01..04:15:00 Asia/Kolkata"]),
])
def test_calendar_expressions(schedule: str, zone: str, expressions: list[str]) -> None:
    assert calendar_expressions(schedule, zone) == expressions


# Schedules x zones whose instants must equal cronsim's exactly away from DST changes.
EXACT_CASES = [
    ("0 3 * * *", "Europe/Paris"),
    ("*/15 * * * *", "America/New_York"),
    ("0 9 * * 1-5", "America/New_York"),
    ("0 0 1,15 * 7", "UTC"),           # day-of-month OR day-of-week: two lines
    ("0 0 */2 * 1", "UTC"),            # '*/2' leads: AND, one line
    ("0 12 1-7 * 1", "Asia/Tokyo"),    # OR: the first seven days and every Monday
    ("20 4 29 2 *", "UTC"),            # leap days only
    ("*/20 */6 * * *", "Asia/Kolkata"),
    ("45 23 31 * *", "Australia/Sydney"),
]


@pytest.mark.parametrize(("schedule", "zone"), EXACT_CASES)
def test_systemd_timers_fire_at_cronsims_instants(schedule: str, zone: str) -> None:
    start = datetime(2026, 5, 1, tzinfo=UTC)  # no DST change until late September in these zones
    end = datetime(2028, 3, 1, tzinfo=UTC) if "29 2" in schedule else datetime(2026, 9, 1, tzinfo=UTC)
    if "29 2" not in schedule and zone == "Australia/Sydney":
        start, end = datetime(2026, 4, 10, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    expected = set(slots_between(schedule, zone, start, end))
    assert expected
    assert systemd_instants(calendar_expressions(schedule, zone), start, end, len(expected) * 2 + 10) == expected


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = need_systemd_analyze()
    executable = str(Path(os.environ.get("VIRTUAL_ENV", "/usr")) / "bin" / "python3")
    executable = shutil.which("python3") or executable
    files = render_systemd(registry(), settings_for(tmp_path, "[systemd]\nuser = \"cronkit\"\n"), executable)
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for name, text in files.items():
        (unit_dir / name).write_text(text)
    units = sorted(str(unit_dir / name) for name in files)
    done = subprocess.run([analyze, "verify", "--man=no", *units], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (0, "")
    # The same check rejects a unit that is wrong: it is not silent here.
    broken = unit_dir / "cronkit-nightly.timer"
    broken.write_text(broken.read_text().replace("OnCalendar=*-*-* 03:00:00", "OnCalendar=*-*-* 27:00:00"))
    done = subprocess.run([analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True)
    assert done.returncode != 0 and "Failed to parse calendar" in done.stderr


def test_systemd_units_carry_the_task_policy(tmp_path: Path) -> None:
    settings_ = settings_for(tmp_path, "[systemd]\nunit_prefix = \"app-\"\nenvironment_file = \"/etc/app/env\"\n"
                             "[tasks.switched-off]\nenabled = false\n",
                             CRONKIT_DB_URL="postgresql://u:pw-secret-9@db/x")
    files = render_systemd(registry(), settings_, EXECUTABLE)
    assert sorted(files) == [f"app-{task}.{kind}" for task in ("fortnight-or-sunday", "nightly", "often", "weekdays")
                             for kind in ("service", "timer")]
    assert not any("pw-secret" in text for text in files.values())
    service = files["app-nightly.service"]
    assert f"ExecStart={EXECUTABLE} --config {tmp_path / 'cronkit.toml'} run nightly --trigger cron\n" in service
    assert "Type=oneshot\n" in service and "TimeoutStartSec=1860\n" in service
    assert "EnvironmentFile=-/etc/app/env\n" in service and "Environment=CRONKIT_ENV=production\n" in service
    timer = files["app-nightly.timer"]
    assert "OnCalendar=*-*-* 03:00:00 Europe/Paris\nPersistent=true\nAccuracySec=1s\nRandomizedDelaySec=0\n" in timer
    assert "Persistent=false\n" in files["app-often.timer"]  # every 15 minutes: catch-up skips
    assert "Unit=app-nightly.service\n" in timer


def test_system_units_name_their_user_and_home_whoever_renders_them(run_cli: RunCli, tmp_path: Path) -> None:
    # Issue 26: a system unit without User= runs as root, against root's home: another run log than
    # the one `history` reads, without the settings of the user who rendered it.
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    home = tmp_path / "state"
    registry_file = write_registry(tmp_path / "unit_tasks.py", 'registry.add("0 3 * * *", "os:getcwd", name="nightly")\n')
    config = tmp_path / "cronkit.toml"
    env = {"HOME": str(tmp_path), "CRONKIT_TASKS": str(registry_file), "CRONKIT_CONFIG": str(config),
           "CRONKIT_HOME": str(home), "PATH": os.environ["PATH"]}

    def service(*user: str, table: str = "") -> str:
        config.write_text(table)
        done = run_cli("--env", "production", "render", "--target", "systemd", *user, "--executable", EXECUTABLE,
                       env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("# --- cronkit-nightly.service\n")[1].split("# --- ")[0]

    for user, table, expected in ((), "", me), (("--user", "app"), "", "app"), ((), '[systemd]\nuser = "svc"\n', "svc"):
        text = service(*user, table=table)
        assert f"\nUser={expected}\n" in text and f"\nEnvironment=CRONKIT_HOME={home}\n" in text
        assert f"--config {config} run nightly" in text  # the settings it read
    own = service("--user")  # units for the user's own systemd: they run as that user
    assert "User=" not in own and f"\nEnvironment=CRONKIT_HOME={home}\n" in own
    refused = run_cli("render", "--target", "kubernetes", "--user", "app", env=env)
    assert (refused.returncode, refused.stderr) == (2, "cronkit: error: --user: takes no value with --target kubernetes\n")


# --- one registry, three schedulers, a year in three zones ---------------------------------------

YEAR = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
ZONES = ("America/New_York", "Europe/Paris", "Australia/Lord_Howe")
YEAR_SCHEDULES = ("30 2 * * *", "30 1 * * *", "*/30 * * * *", "15 */2 * * *", "0 9 * * 1-5", "0 0 1,15 * 5")
# Several runs a day are compared over the four days around each of the year's DST changes (the
# rest of the year holds no difference, as the daily schedules show); the others over the year.
SUB_DAILY = {"*/30 * * * *", "15 */2 * * *"}


def _windows(schedule: str, zone: str) -> list[tuple[datetime, datetime]]:
    from cronkit.schedule.hostlines import _transitions

    if schedule not in SUB_DAILY:
        return [YEAR]
    changes = [t for t, _ in _transitions(zone) if YEAR[0] < t < YEAR[1]]
    assert len(changes) == 2
    return [(t - timedelta(days=2), t + timedelta(days=2)) for t in changes]


def _dst_kind(instant: datetime, zone: str) -> str:
    tz = zone_info(zone)
    local = instant.astimezone(tz)
    if local.fold:
        return "repeated"  # the second pass of a fall-back's repeated wall time
    if instant.astimezone(tz).utcoffset() != (instant - timedelta(minutes=1)).astimezone(tz).utcoffset():
        return "gap-end"  # cron runs a wall time a spring-forward removed at the end of the gap
    return "other"


def _differences(schedule: str, zone: str) -> dict[str, list[str]]:
    k8s_schedule, _ = kubernetes_schedule(schedule)
    cron: set[datetime] = set()
    k8s: set[datetime] = set()
    systemd: set[datetime] = set()
    for start, end in _windows(schedule, zone):
        window = set(slots_between(schedule, zone, start, end))
        cron |= window
        k8s |= set(robfig.instants(k8s_schedule, zone, start, end))
        systemd |= systemd_instants(calendar_expressions(schedule, zone), start, end, len(window) + 100)
    out: dict[str, list[str]] = {}
    for label, missing in (("systemd-missing", cron - systemd), ("systemd-extra", systemd - cron),
                           ("k8s-missing", cron - k8s), ("k8s-extra", k8s - cron)):
        kinds = sorted({_dst_kind(instant, zone) for instant in missing})
        if missing:
            out[label] = [f"{len(missing)} {','.join(kinds)}"]
    return out


# Where each scheduler's own DST rule departs from cron's over 2026 (README, "Other schedulers").
# Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
PINNED: dict[tuple[str, str], dict[str, list[str]]] = {
    ("30 2 * * *", "America/New_York"): {"systemd-missing": ["1 gap-end"], "k8s-missing": ["1 gap-end"]},
    ("30 2 * * *", "Europe/Paris"): {"systemd-missing": ["1 gap-end"], "k8s-missing": ["1 gap-end"],
                                     "k8s-extra": ["1 repeated"]},
    ("30 2 * * *", "Australia/Lord_Howe"): {},
    ("30 1 * * *", "America/New_York"): {"k8s-extra": ["1 repeated"]},
    ("30 1 * * *", "Europe/Paris"): {},
    # robfig also fires 01:30 again at 02:30 after the 30-minute spring-forward: it steps minutes
    # from 01:59 straight into 02:30, where the minute matches.
    ("30 1 * * *", "Australia/Lord_Howe"): {"k8s-extra": ["2 gap-end,repeated"]},
    ("*/30 * * * *", "America/New_York"): {},
    ("*/30 * * * *", "Europe/Paris"): {},
    ("*/30 * * * *", "Australia/Lord_Howe"): {"systemd-missing": ["1 repeated"]},
    ("15 */2 * * *", "America/New_York"): {},
    ("15 */2 * * *", "Europe/Paris"): {"systemd-missing": ["1 repeated"]},
    # Debian's cron (the slots' reading since issue 19) and systemd fire at the 02:15 that follows
    # the 30-minute fall-back; robfig does not.
    ("15 */2 * * *", "Australia/Lord_Howe"): {"k8s-missing": ["1 other"]},
    ("0 9 * * 1-5", "America/New_York"): {},
    ("0 9 * * 1-5", "Europe/Paris"): {},
    ("0 9 * * 1-5", "Australia/Lord_Howe"): {},
    ("0 0 1,15 * 5", "America/New_York"): {},
    ("0 0 1,15 * 5", "Europe/Paris"): {},
    ("0 0 1,15 * 5", "Australia/Lord_Howe"): {},
}


@pytest.mark.slow
def test_crontab_systemd_and_kubernetes_agree_over_a_year_but_for_the_pinned_dst_rules() -> None:
    found = {(schedule, zone): _differences(schedule, zone) for schedule in YEAR_SCHEDULES for zone in ZONES}
    assert found == PINNED


def test_the_robfig_port_follows_kubernetes_across_dst() -> None:
    # Known Kubernetes behaviour (robfig/cron v3): a wall time a spring-forward removes is skipped,
    # and a fixed time in a fall-back's repeated hour runs twice.
    ny = "America/New_York"
    spring = list(robfig.instants("30 2 * * *", ny, datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)))
    assert [t.strftime("%m-%d %H:%M") for t in spring] == ["03-07 07:30", "03-09 06:30"]
    fall = list(robfig.instants("30 1 * * *", ny, datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC)))
    assert [t.strftime("%m-%d %H:%M") for t in fall] == ["10-31 05:30", "11-01 05:30", "11-01 06:30", "11-02 06:30"]


# Zones whose clocks move forward at midnight: robfig/cron steps into such a day at 01:00 and (east of
# UTC, where Go's time.Date reads the missing midnight as 01:00) back into the day before, so the day
# is left out; west of UTC (Havana) it reads it as 23:00 the day before and only 00:xx is lost.
MIDNIGHT_ZONES = ("Asia/Beirut", "Africa/Cairo", "America/Havana")
MIDNIGHT_SCHEDULES = ("0 12 * * *", "0 12 * * 0", "0 12 * * 5", "0 9 * * 1-5", "30 6 29 * *", "0 12 24 4 *",
                      "0 12 1,15 * 5", "0 12 */2 * *", "15 3 * * 6,0", "0 12 8 3 *")


def test_midnight_skips_are_the_days_kubernetes_leaves_out() -> None:
    from cronkit.targets.kubernetes import midnight_skips

    span = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    found = {}
    for zone in MIDNIGHT_ZONES:
        tz = zone_info(zone)
        for schedule in MIDNIGHT_SCHEDULES:
            missing = set(slots_between(schedule, zone, *span)) - set(
                robfig.instants(kubernetes_schedule(schedule)[0], zone, *span))
            days = sorted({t.astimezone(tz).date() for t in missing})
            assert days == [d for d in midnight_skips(schedule, zone) if span[0].year <= d.year < span[1].year]
            found[(zone, schedule)] = len(days)
    # The comparison is not empty: Beirut's Sunday and 29th, Cairo's Fridays and 24 April lose their
    # day; Saturday-and-Sunday does not (robfig reaches Sunday from Saturday hour by hour).
    assert {key for key, count in found.items() if count} == {
        ("Asia/Beirut", "0 12 * * 0"), ("Asia/Beirut", "30 6 29 * *"), ("Asia/Beirut", "0 12 */2 * *"),
        ("Africa/Cairo", "0 12 * * 5"), ("Africa/Cairo", "0 12 1,15 * 5"), ("Africa/Cairo", "0 12 24 4 *")}


def test_a_cronjob_that_loses_a_spring_forward_day_is_annotated_and_warned_of(run_cli: RunCli, tmp_path: Path) -> None:
    registry_file = write_registry(tmp_path / "beirut_tasks.py", (
        'registry.add("0 12 * * 0", "os:getcwd", name="sunday", timezone="Asia/Beirut", environments=["*"])\n'
        'registry.add("0 12 * * *", "os:getcwd", name="daily", timezone="Asia/Beirut", environments=["*"])\n'))
    out = tmp_path / "k8s"
    done = run_cli("--tasks", str(registry_file), "render", "--target", "kubernetes", "--output", str(out))
    assert done.returncode == 0, done.stderr
    note = ("Asia/Beirut moves its clocks forward at midnight, and on such a day the CronJob controller "
            "(robfig/cron) skips the task's runs; schedule it in a zone such as UTC to keep them")
    assert f"cronkit: warning: task sunday: {note}\n" in done.stderr and "task daily:" not in done.stderr
    sunday, daily = (yaml.safe_load((out / f"{name}.yaml").read_text()) for name in ("sunday", "daily"))
    assert sunday["metadata"]["annotations"]["cronkit/schedule-note"] == note
    assert "cronkit/schedule-note" not in daily["metadata"]["annotations"]


# --- the command line ----------------------------------------------------------------------------


def test_render_prints_each_file_after_its_name(run_cli: RunCli, cronkit_env: dict[str, str]) -> None:
    done = run_cli("--env", "staging", "render", "--target", "systemd", "--executable", EXECUTABLE, env=cronkit_env)
    assert done.returncode == 0, done.stderr
    builtin = load_registry("cronkit.tasks")
    settings_ = load_settings({"environment": "staging"}, environ=cronkit_env)
    assert done.stdout == joined(render_systemd(builtin, settings_, EXECUTABLE))
    assert done.stdout.startswith("# --- cronkit-daily-analytics-updates.service\n# Rendered by cronkit")
    bad = run_cli("render", "--target", "nomad", env=cronkit_env)
    assert bad.returncode == 2


def test_install_systemd_keeps_foreign_units_and_removes_only_its_own(run_cli: RunCli, cronkit_env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    reg_file = write_registry(tmp_path / "jobs.py", (
        "registry.add('0 3 * * *', 'os:getcwd', name='nightly')\n"
        "registry.add('0 4 * * *', 'os:getcwd', name='later')\n"
    ))
    units = tmp_path / "units"
    units.mkdir()
    foreign = units / "backup.timer"
    foreign.write_text("[Timer]\nOnCalendar=daily\n")
    args = ("--env", "production", "--tasks", str(reg_file), "install", "--target", "systemd",
            "--unit-dir", str(units), "--executable", EXECUTABLE)
    dry = run_cli(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would add {units}/cronkit-nightly.timer\n" in dry.stdout
    assert sorted(p.name for p in units.iterdir()) == ["backup.timer"]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in units.iterdir()) == [
        ".cronkit-manifest.json", "backup.timer", "cronkit-later.service", "cronkit-later.timer",
        "cronkit-nightly.service", "cronkit-nightly.timer"]
    assert "systemd is not running here (PID 1 is" in done.stdout
    assert "systemctl daemon-reload && systemctl enable --now cronkit-later.timer cronkit-nightly.timer" in done.stdout
    assert oct((units / "cronkit-nightly.timer").stat().st_mode & 0o777) == "0o644"
    again = run_cli(*args)
    assert f"{units}: 0 added, 0 changed, 0 removed, 4 unchanged" in again.stdout
    reg_file.write_text(reg_file.read_text().replace("registry.add('0 4 * * *', 'os:getcwd', name='later')\n", ""))
    shrunk = run_cli(*args)
    assert shrunk.returncode == 0, shrunk.stderr
    assert f"removed {units}/cronkit-later.timer\n" in shrunk.stdout
    assert sorted(p.name for p in units.iterdir()) == [
        ".cronkit-manifest.json", "backup.timer", "cronkit-nightly.service", "cronkit-nightly.timer"]
    assert foreign.read_text() == "[Timer]\nOnCalendar=daily\n"
    # A unit of the same name that cronkit did not write is not overwritten.
    (units / "cronkit-later.timer").write_text("mine\n")
    reg_file.write_text(reg_file.read_text() + "registry.add('0 4 * * *', 'os:getcwd', name='later')\n")
    clash = run_cli(*args)
    assert clash.returncode == 78
    assert clash.stderr == (f"cronkit: error: {units}/cronkit-later.timer: exists and was not written by cronkit; "
                            "move it away or rename the task\n")
    assert (units / "cronkit-later.timer").read_text() == "mine\n"


def test_install_systemd_user_units_go_under_the_users_config(run_cli: RunCli, cronkit_env: dict[str, str],
                                                             tmp_path: Path) -> None:
    done = run_cli("--env", "staging", "install", "--target", "systemd", "--user", "--executable", EXECUTABLE,
                   env=cronkit_env)
    assert done.returncode == 0, done.stderr
    user_dir = Path(cronkit_env["HOME"]) / ".config" / "systemd" / "user"
    assert (user_dir / "cronkit-daily-log-pruning.timer").is_file()
    assert "systemctl --user daemon-reload" in done.stdout


def test_install_kubernetes_needs_an_output_directory(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path) -> None:
    missing = run_cli("--env", "production", "install", "--target", "kubernetes", env=cronkit_env)
    assert missing.returncode == 2
    assert "--output DIR" in missing.stderr
    out = tmp_path / "k8s"
    done = run_cli("--env", "production", "install", "--target", "kubernetes", "--output", str(out), env=cronkit_env)
    assert done.returncode == 0, done.stderr
    assert len(list(out.glob("*.yaml"))) == 7
    assert f"apply them with: kubectl apply -f {out}" in done.stdout


# --- the checked-in deploy/ examples ----------------------------------------------------------------

# Fixed inputs of deploy/<scheduler>/<environment> (README, "Other schedulers").
DEPLOY_ENV = {"CRONKIT_HOME": "/var/lib/cronkit"}


@pytest.mark.parametrize("target", ["kubernetes", "systemd"])
def test_deploy_examples_match_the_registry(run_cli: RunCli, cronkit_env: dict[str, str], tmp_path: Path,
                                            target: str) -> None:
    env = {**cronkit_env, **DEPLOY_ENV}
    # systemd: units that run as the Dockerfile's user, whoever renders them
    user = ["--user", "cronkit"] if target == "systemd" else []
    for environment in ("production", "staging"):
        out = tmp_path / target / environment
        done = run_cli("--env", environment, "--tasks", "cronkit.tasks", "render", "--target", target, *user,
                       "--executable", EXECUTABLE, "--output", str(out), env=env)
        assert done.returncode == 0, done.stderr
        checked_in = REPO / "deploy" / target / environment
        regenerate = (f"CRONKIT_HOME=/var/lib/cronkit cronkit --env {environment} --tasks cronkit.tasks render "
                      f"--target {target} {' '.join(user)}{' ' if user else ''}--executable {EXECUTABLE} "
                      f"--output deploy/{target}/{environment}")
        expected = {p.name: p.read_text() for p in out.iterdir()}
        present = {p.name: p.read_text() for p in checked_in.iterdir()} if checked_in.is_dir() else {}
        assert present == expected, f"deploy/{target}/{environment} drifted from the registry; regenerate it:\n  " \
            f"rm -r deploy/{target}/{environment} && {regenerate}"


def test_checked_in_cronjobs_validate() -> None:
    paths = sorted((REPO / "deploy" / "kubernetes").glob("*/*.yaml"))
    assert len(paths) == 7 + 3
    for path in paths:
        validate(yaml.safe_load(path.read_text()))
