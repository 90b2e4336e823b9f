"""Render the registry as Kubernetes `batch/v1` CronJobs, one file `<name>.yaml` per task.

The CronJob controller parses schedules with robfig/cron v3, which differs from Debian's
cron in three ways this module accounts for: day-of-week 7 is not accepted (written as 0);
a field such as `*/2` counts as restricted, not as `*`, in the day-of-month/day-of-week rule
(so the day fields are rewritten from their values); and across DST it skips the wall
times a spring-forward removes and runs a fixed time twice in a fall-back (the README's
"Other schedulers" pins this; `cronkit run` drops a start that is not a slot).
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from cronkit.config.settings import Settings
from cronkit.errors import ConfigError
from cronkit.registry import Registry, Task
from cronkit.registry.limits import kubernetes_limits
from cronkit.registry.loader import configured_registry, registry_spec
from cronkit.registry.sets import registry_location
from cronkit.schedule import days_and, parse_fields, zone_info
from cronkit.schedule.debcron import FIELD_RANGES
from cronkit.schedule.hostlines import midnight_gaps
from cronkit.targets.common import MIN_STARTING_DEADLINE, OUTER_MARGIN, rendered_by, value_runs

# A CronJob's name becomes its Jobs' names plus an 11-character suffix, under 63.
MAX_NAME = 52
HASH_LENGTH = 8
_LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")
APP_LABEL = "app.kubernetes.io/name"
TASK_LABEL = "cronkit/task"
# Secret keys the pods read, each into the environment variable of the same name.
SECRET_KEYS = (
    ("CRONKIT_DB_URL", False),
    ("CRONKIT_REDIS_URL", True),
    ("CRONKIT_APP_DB_URL", True),
    ("CRONKIT_SECRET_KEY", True),
)
CONCURRENCY_POLICY = {"forbid": "Forbid", "allow": "Allow", "replace": "Replace"}


def object_name(task: str) -> str:
    """Return the CronJob name of a task: the task name, else a prefix plus a short hash.

    Task names may reach 64 characters or end with '-'; a CronJob name may not.
    """
    if len(task) <= MAX_NAME and task[-1] != "-":
        return task
    digest = hashlib.sha256(task.encode()).hexdigest()[:HASH_LENGTH]
    head = task[: MAX_NAME - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}"


def kubernetes_schedule(expr: str) -> tuple[str, bool]:
    """Return (schedule for the CronJob controller, whether it fires at exactly expr's days).

    When Debian's rule asks for day-of-month AND day-of-week with both restricted (as in
    `0 0 */2 * 1`), robfig cannot say it: the schedule keeps the day-of-month alone, a
    superset of the days, and `cronkit run --trigger cron` skips the others.
    """
    fields, sets = parse_fields(expr)
    all_days = set(range(FIELD_RANGES[2][0], FIELD_RANGES[2][1] + 1))
    all_weekdays = set(range(7))
    dom, dow = sets[2], sets[4]
    exact = True
    if days_and(fields):
        if dom == all_days:
            dom_text, dow_text = "*", _values(dow, all_weekdays)
        elif dow == all_weekdays:
            dom_text, dow_text = _values(dom, all_days), "*"
        else:
            dom_text, dow_text, exact = _values(dom, all_days), "*", False
    elif dom == all_days or dow == all_weekdays:
        dom_text, dow_text = "*", "*"
    else:
        # Both restricted: written as plain lists so that robfig, like cron, fires on either.
        dom_text, dow_text = _values(dom, set()), _values(dow, set())
    return " ".join([fields[0], fields[1], dom_text, fields[3], dow_text]), exact


def midnight_skips(expr: str, zone: str) -> list[date]:
    """Return the days with a slot that a CronJob in `zone` skips whole (within hostlines' horizon).

    robfig/cron steps from a day that does not fire to the next one by date, and when a
    spring-forward removes that day's midnight (Asia/Beirut, Africa/Cairo...) it lands at 01:00,
    steps back an hour into the day before, and leaves the day out.
    """
    fields, sets = parse_fields(kubernetes_schedule(expr)[0])
    if fields[2] == fields[4] == "*":
        return []  # every day of a month fires: robfig never steps by day

    def fires(day: date) -> bool:
        dom, dow = day.day in sets[2], day.isoweekday() % 7 in sets[4]
        return day.month in sets[3] and ((dom and dow) if days_and(fields) else (dom or dow))

    skipped = []
    for day in midnight_gaps(zone):
        before = day - timedelta(days=1)
        # From a firing day robfig reaches the next by the hour; from another month, by its 1st.
        if fires(day) and not fires(before) and before.month in sets[3] and _go_midnight(day, zone) == day:
            skipped.append(day)
    return skipped


def _go_midnight(day: date, zone: str) -> date:
    """Return the day Go's time.Date(day, 00:00) lands on when that midnight does not exist: the
    day itself (01:00, zones east of UTC such as Beirut) or the day before (23:00, e.g. Havana)."""
    tz = zone_info(zone)
    wall = datetime.combine(day, time(), tzinfo=UTC)  # the wall time read as UTC, as Go first looks it up
    offset = wall.astimezone(tz).utcoffset() or timedelta()
    utc = wall - offset
    if (utc.astimezone(tz).utcoffset() or timedelta()) != offset:  # outside that offset's period: look again
        offset = utc.astimezone(tz).utcoffset() or timedelta()
    return (wall - offset).astimezone(tz).date()


def schedule_note(task: Task, settings: Settings) -> str | None:
    """Return what a CronJob cannot say of the task's schedule (its `cronkit/schedule-note`), if anything."""
    notes = []
    if not kubernetes_schedule(task.resolved_schedule)[1]:
        notes.append("superset of the task's days; cronkit run skips the starts that are not slots")
    zone = task.zone(settings.timezone)
    if midnight_skips(task.resolved_schedule, zone):
        notes.append(f"{zone} moves its clocks forward at midnight, and on such a day the CronJob controller "
                     "(robfig/cron) skips the task's runs; schedule it in a zone such as UTC to keep them")
    return "; ".join(notes) or None


def schedule_warnings(registry: Registry, settings: Settings) -> list[str]:
    """Return a warning per task of the environment whose CronJob carries a schedule note."""
    warnings = []
    for task in registry:
        if task.runs_in(settings.environment):
            note = schedule_note(task, settings)
            if note:
                warnings.append(f"task {task.name}: {note}")
    return warnings


def _values(values: set[int], full: set[int]) -> str:
    """Return a field listing `values` ('*' when they are `full`), runs of three or more as ranges."""
    if values == full:
        return "*"
    return ",".join(f"{a}-{b}" if b - a >= 2 else ",".join(str(v) for v in range(a, b + 1))
                    for a, b in value_runs(values))


def _labels(task: Task, name: str) -> dict[str, str]:
    value = task.name if _LABEL_VALUE.fullmatch(task.name) else name
    return {APP_LABEL: "cronkit", TASK_LABEL: value}


def starting_deadline(task: Task) -> int:
    """Return how late a Job may still start: the catch-up window, else the task's grace."""
    seconds = task.grace if task.catchup == "skip" else task.catchup_window
    return max(MIN_STARTING_DEADLINE, math.ceil(seconds))


def _env(task: Task, settings: Settings, registry_name: str | None) -> list[dict[str, Any]]:
    """Return the container's environment: the settings a pod needs inlined, the rest from the Secret."""
    k8s = settings.kubernetes
    env: list[dict[str, Any]] = [
        {"name": "CRONKIT_ENV", "value": settings.environment},
        {"name": "CRONKIT_TASKS", "value": registry_name or configured_registry(settings)},
        # The project's directory in the image, looked in first, as registry_path is on a cron host.
        *([{"name": "CRONKIT_TASKS_PATH", "value": k8s.working_dir}] if k8s.working_dir else []),
        {"name": "CRONKIT_TIMEZONE", "value": settings.timezone},
        # encrypt_payloads (the key comes from the Secret below): a pod seals what it stores as a host does.
        *([{"name": "CRONKIT_ENCRYPT_PAYLOADS", "value": "true"}] if settings.encrypt_payloads else []),
    ]
    for key, optional in SECRET_KEYS:
        ref: dict[str, Any] = {"name": k8s.secret_name, "key": key}
        if optional:
            ref["optional"] = True
        env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
    return env


def _container(task: Task, settings: Settings, registry_name: str | None,
               annotations: dict[str, str]) -> dict[str, Any]:
    """Return the CronJob's one container; what a pod cannot do as a host does goes into `annotations`."""
    k8s = settings.kubernetes
    container: dict[str, Any] = {
        "name": "cronkit",
        "image": k8s.image,
        "command": ["cronkit"],
        "args": ["run", task.name, "--trigger", "cron"],
        **({"workingDir": k8s.working_dir} if k8s.working_dir else {}),
        "env": _env(task, settings, registry_name),
    }
    if k8s.env_from:
        container["envFrom"] = [
            {"secretRef" if kind == "secret" else "configMapRef": {"name": ref_name}}
            for kind, _, ref_name in (item.partition("/") for item in k8s.env_from)
        ]
    resources = {kind: dict(table) for kind, table in k8s.resources.items()}
    own, notes = kubernetes_limits(task.limits)
    if own:  # the task's own limits win over [kubernetes] resources
        resources["limits"] = {**resources.get("limits", {}), **own}
    if task.user:
        notes.append(f"user {task.user} runs the task on a host; a pod runs as its image's user (runAsNonRoot)")
    if notes:
        annotations["cronkit/limits-note"] = "; ".join(notes)
    if resources:
        container["resources"] = resources
    container["securityContext"] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True}
    return container


def cronjob(task: Task, settings: Settings, suspended: bool, registry_name: str | None = None) -> dict[str, Any]:
    """Return the CronJob object of one task (a plain dict, in the order it is written)."""
    k8s = settings.kubernetes
    name = object_name(task.name)
    labels = _labels(task, name)
    schedule, _ = kubernetes_schedule(task.resolved_schedule)
    annotations = {"cronkit/task-name": task.name, "cronkit/schedule": task.schedule}
    note = schedule_note(task, settings)
    if note:
        annotations["cronkit/schedule-note"] = note
    pod_spec: dict[str, Any] = {"restartPolicy": "Never"}
    if k8s.service_account:
        pod_spec["serviceAccountName"] = k8s.service_account
    pod_spec["containers"] = [_container(task, settings, registry_name, annotations)]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": k8s.namespace, "labels": labels, "annotations": annotations},
        "spec": {
            "schedule": schedule,
            "timeZone": task.zone(settings.timezone),
            "concurrencyPolicy": CONCURRENCY_POLICY[task.concurrency],
            "startingDeadlineSeconds": starting_deadline(task),
            "suspend": suspended,
            "successfulJobsHistoryLimit": k8s.successful_jobs_history_limit,
            "failedJobsHistoryLimit": k8s.failed_jobs_history_limit,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    # cronkit retries inside the run: a Job retry would run the task twice.
                    "backoffLimit": 0,
                    "activeDeadlineSeconds": math.ceil(task.timeout) + OUTER_MARGIN,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            },
        },
    }


def to_yaml(document: Any) -> str:
    """Return `document` as block YAML, keys in the given order, no anchors (`&id001`)."""
    # lazy: PyYAML (~30 ms) for the Kubernetes target only; render/install import targets for TARGETS
    import yaml

    class Dumper(yaml.SafeDumper):  # type: ignore[misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return str(yaml.dump(document, Dumper=Dumper, sort_keys=False, default_flow_style=False,
                         width=1000, allow_unicode=True))


def render(registry: Registry, settings: Settings) -> dict[str, str]:
    """Return {`<name>.yaml`: CronJob} for every task scheduled in the settings' environment.

    A task switched off with `enabled = false` is rendered suspended, so that applying the
    files stops a CronJob applied before. No setting's value is inlined except the
    environment, registry and default zone: URLs and keys come from the Secret.
    """
    enabled = {t.name for t in registry.enabled_in(settings.environment, settings.task_config)}
    files: dict[str, str] = {}
    for task in registry:
        if not task.runs_in(settings.environment):
            continue
        document = cronjob(task, settings, suspended=task.name not in enabled,
                           registry_name=registry_spec(registry, settings))
        file_name = f"{document['metadata']['name']}.yaml"
        if file_name in files:
            raise ConfigError(f"task {task.name}: its CronJob name {file_name[:-5]!r} is taken by another task")
        header = (f"{rendered_by(registry.id or registry_spec(registry, settings), settings.environment)}: task {task.name}. "
                  "Edits are overwritten.\n")
        files[file_name] = header + to_yaml(document)
    return files


def registry_note(registry: Registry, settings: Settings) -> str | None:
    """Return a warning when the registry comes from this host's files, not from cronkit or site-packages,
    and no `[kubernetes] working_dir` says where the image holds it: the pods cannot see this host."""
    if settings.kubernetes.working_dir is not None:
        return None
    spec, root = registry_location(registry, registry_spec(registry, settings))
    where = str(Path(spec).parent) if spec.startswith("/") else root
    if where is None:
        return None
    return (f"registry {spec} is found in {where} on this host; the pods find it only if the image "
            f"{settings.kubernetes.image} holds it: install the project into the image, or copy it there and set "
            "[kubernetes] working_dir")


def cronjob_names(paths: list[Path], namespace: str) -> dict[str, list[str]]:
    """Return {namespace: [CronJob names]} of rendered files, from their metadata (else the file's
    name and the `[kubernetes]` namespace)."""
    # lazy: PyYAML (~30 ms) for the Kubernetes target only; render/install import targets for TARGETS
    import yaml

    found: dict[str, list[str]] = {}
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, ValueError, yaml.YAMLError):
            document = None
        metadata = document.get("metadata") if isinstance(document, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        where = str(metadata.get("namespace") or namespace)
        found.setdefault(where, []).append(str(metadata.get("name") or path.stem))
    return found
