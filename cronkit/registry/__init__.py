"""Task records and the Registry that collects them (registry.loader finds and imports one)."""

from __future__ import annotations

import importlib
import importlib.util
import re
from collections.abc import Callable, Iterator, Mapping
from types import FunctionType, MappingProxyType

from cronkit.config.settings import ENV_VARS
from cronkit.config.values import check_timezone, parse_duration
from cronkit.errors import ConfigError, RegistryError, UnknownTask
from cronkit.plain import TYPE_CHECKING, field, record, replace
from cronkit.registry.command import CommandSpec, command_spec, describe_command
from cronkit.registry.limits import Limits, parse_limits
from cronkit.registry.params import Param, check_declaration
from cronkit.schedule import period_at_least_an_hour, validate_schedule

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
USER_PATTERN = r"(?i)[a-z_][a-z0-9_.-]{0,31}\$?"  # as useradd takes them; compiled only when a task names a user
DEFAULT_ENVIRONMENTS = ("production",)
DEFAULT_TIMEOUT = 3600.0
DEFAULT_BACKOFF = 10.0
DEFAULT_BACKOFF_MAX = 600.0
DEFAULT_GRACE = 300.0
DEFAULT_CATCHUP_WINDOW = 86400.0  # "24h"
DEFAULT_CATCHUP_MAX = 24
CONCURRENCY_POLICIES = ("forbid", "allow", "replace")
CATCHUP_POLICIES = ("skip", "latest", "all")

if TYPE_CHECKING:
    from typing import Any, Literal, NoReturn

    TaskFunc = Callable[..., Any]
    LockScope = Literal["global", "local"]
    Concurrency = Literal["forbid", "allow", "replace"]
    Catchup = Literal["skip", "latest", "all"]


@record(frozen=True)
class Task:
    """One scheduled task: what to call, when, where, and under which policy."""

    name: str
    schedule: str
    target: str
    timezone: str | None = None
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 0
    backoff: float = DEFAULT_BACKOFF
    backoff_max: float = DEFAULT_BACKOFF_MAX
    singleton: bool = True
    lock_scope: LockScope = "global"
    redis_fallback: bool = False
    grace: float = DEFAULT_GRACE
    concurrency: Concurrency = "forbid"
    catchup: Catchup = "skip"
    catchup_window: float = DEFAULT_CATCHUP_WINDOW
    catchup_max: int = DEFAULT_CATCHUP_MAX
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    func: TaskFunc | None = field(default=None, compare=False, repr=False)
    # Parameters (SPEC 14): the `--param`s the task takes (None: undeclared, anything goes), and
    # what `--date` means to it (params.DATES); checked before a run is recorded.
    params: Mapping[str, Param] | None = None
    dates: str = "any"
    # Preflight (SPEC 14): what the task needs to run, e.g. "setting:secret_key", "service:redis".
    requires: tuple[str, ...] = ()
    # `schedule` as written (it may hold `H` parts); `resolved_schedule` is the plain cron
    # expression it stands for, the one every slot, line and unit is computed from (spread.py).
    resolved_schedule: str = ""
    # Isolation (SPEC 18): rlimits and niceness of each attempt, and the user its lines run as
    # (cron.d installs by root, systemd units).
    limits: Limits = field(default_factory=Limits)
    user: str | None = None
    # A shell command task (registry.command, SPEC 17): what to run instead of a function.
    command: CommandSpec | None = None
    # Where the task was defined: its registry's source (a module, a file, `plugin:NAME`).
    origin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.resolved_schedule:
            object.__setattr__(self, "resolved_schedule", self.schedule)

    def load(self) -> TaskFunc:
        """Return the task's function, importing its module on first use."""
        if self.command is not None:
            raise RegistryError(f"task {self.name}: a command task has no function")
        if self.func is not None:
            return self.func
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise RegistryError(f"task {self.name}: cannot import {module_name}: {exc}") from exc
        obj: Any = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        if not callable(obj):
            raise RegistryError(f"task {self.name}: {self.target} is not a function")
        check_takes_context(f"task {self.name}", obj)
        return obj  # type: ignore[no-any-return]

    def zone(self, default: str) -> str:
        """Return the task's IANA zone, the settings' default when it has none."""
        return self.timezone or default

    def runs_in(self, environment: str) -> bool:
        return "*" in self.environments or environment in self.environments


class Registry:
    """An ordered set of tasks with unique names."""

    def __init__(self, id: str | None = None) -> None:
        self._tasks: dict[str, Task] = {}
        self.id = id
        self.source = ""
        self.parts: tuple[Registry, ...] = ()  # the registries a merged one holds (registry_set.merge)
        self.spread_seed = ""
        self._spreader: Any = None  # spread.Spreader, made when the first `H` schedule comes

    def apply_spread_seed(self, seed: str) -> None:
        """Resolve the tasks' `H` schedules again with the `spread_seed` setting (loaders call it)."""
        if seed == self.spread_seed:
            return
        self.spread_seed, self._spreader = seed, None
        for name, task in self._tasks.items():
            resolved = self._resolve(task.schedule, name, f"task {name}")
            if resolved != task.resolved_schedule:
                self._tasks[name] = replace(task, resolved_schedule=resolved)

    def task(self, schedule: str, **options: Any) -> Callable[[TaskFunc], TaskFunc]:
        """Register the decorated function as a task; see `add` for the options."""

        def decorate(func: TaskFunc) -> TaskFunc:
            self.add(schedule, func, **options)
            return func

        return decorate

    def add(
        self,
        schedule: str,
        target: TaskFunc | str,
        *,
        name: str | None = None,
        timezone: str | None = None,
        environments: tuple[str, ...] | list[str] | str = DEFAULT_ENVIRONMENTS,
        timeout: str | float = DEFAULT_TIMEOUT,
        retries: int = 0,
        backoff: str | float = DEFAULT_BACKOFF,
        backoff_max: str | float = DEFAULT_BACKOFF_MAX,
        singleton: bool | None = None,
        lock_scope: LockScope = "global",
        redis_fallback: bool = False,
        grace: str | float = DEFAULT_GRACE,
        concurrency: Concurrency | None = None,
        catchup: Catchup | None = None,
        catchup_window: str | float = DEFAULT_CATCHUP_WINDOW,
        catchup_max: int = DEFAULT_CATCHUP_MAX,
        description: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        params: Mapping[str, Param | str] | None = None,
        dates: str = "any",
        requires: tuple[str, ...] | list[str] = (),
        limits: Mapping[str, Any] | None = None,
        nice: int | None = None,
        user: str | None = None,
    ) -> Task:
        """Validate and record a task; `target` is a function or a lazy `"module:attr"`.

        `concurrency` and `singleton` say one thing (SPEC section 12): `singleton=False` means
        `"allow"`, `"allow"` means no singleton lock; given both, they must agree. `catchup`
        defaults to `"latest"` for a schedule whose period is an hour or more, else `"skip"`.
        Long only by its signature (one keyword per registration option) and the Task it fills.
        """
        func, path, name, description = _identify(target, name, description)
        self._check_new(name, func)
        where = f"task {name}"
        written = " ".join(schedule.split())
        resolved = self._resolve(written, name, where)
        placement = _placement(where, timezone, environments, lock_scope, user)
        timing = _timing(where, timeout, retries, backoff, backoff_max, grace)
        singleton, concurrency = _concurrency(where, singleton, concurrency)
        catchup, window = _catchup_policy(where, resolved, catchup, catchup_window, catchup_max)
        declared = check_declaration(where, params, dates)
        task = Task(
            name=name, schedule=written, resolved_schedule=resolved, target=path, func=func,
            description=description or "", defaults=MappingProxyType(dict(defaults or {})),
            singleton=singleton, concurrency=concurrency, catchup=catchup, catchup_window=window,
            catchup_max=catchup_max, redis_fallback=redis_fallback,
            params=MappingProxyType(declared) if declared is not None else None, dates=dates,
            requires=check_requires(where, requires), limits=parse_limits(where, limits, nice, parse_duration),
            **placement, **timing,
        )
        self._tasks[name] = task
        return task

    def _check_new(self, name: str, func: TaskFunc | None) -> None:
        """Refuse a task name that is malformed or taken, and a function that cannot take the context."""
        if not NAME_PATTERN.fullmatch(name):
            raise RegistryError(f"task name {name!r}: use a-z, 0-9 and '-', starting with a letter or digit, at most 64")
        if func is not None:
            check_takes_context(f"task {name}", func)
        if name in self._tasks:
            raise RegistryError(f"task name {name!r}: already registered")

    def command(self, schedule: str, command: str, *, name: str, shell: str = "/bin/sh",
                env: Mapping[str, str] | None = None, cwd: str | None = None,
                success_codes: tuple[int, ...] | list[int] = (0,), retry_codes: tuple[int, ...] | list[int] = (),
                **options: Any) -> Task:
        """Register a shell command as a task (`shell -c command`, in `cwd`, with `env` added).

        Every option of `add` applies (timeout, retries, singleton, catchup...). An exit code in
        `success_codes` succeeds, one in `retry_codes` is a transient failure (retried), any
        other fails the run. A command takes no `--param` or `--date` unless `params=` or `dates=`
        declares them; they reach it as CRONKIT_PARAM_<NAME> and CRONKIT_DATE.
        """
        where = f"task {name}"
        spec = command_spec(where, command, shell, env, cwd, success_codes, retry_codes)
        options.setdefault("params", {})
        options.setdefault("dates", "none")
        if options.get("description") is None:
            options["description"] = describe_command(command)
        task = self.add(schedule, f"command:{name}", name=name, **options)
        task = replace(task, command=spec)
        self._tasks[task.name] = task
        return task

    def _resolve(self, schedule: str, name: str, where: str) -> str:
        """Return the plain, validated cron expression of a schedule that may hold `H` parts."""
        if "H" in schedule:
            # lazy: only `H` schedules are spread
            from cronkit.schedule.spread import Spreader, resolve

            if self._spreader is None:
                self._spreader = Spreader()
            schedule = resolve(schedule, name, self.spread_seed, where, self._spreader)
        return validate_schedule(schedule, where=where)

    def __getitem__(self, name: str) -> Task:
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownTask(name, list(self._tasks)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    def names(self) -> list[str]:
        return list(self._tasks)

    def enabled_in(self, environment: str, task_config: Mapping[str, Mapping[str, Any]]) -> list[Task]:
        """Return the tasks scheduled in `environment` and not switched off by `enabled = false`."""
        return [
            t for t in self if t.runs_in(environment) and task_config.get(t.name, {}).get("enabled", True)
        ]


def check_takes_context(where: str, func: TaskFunc) -> None:
    """Refuse, at registration, a function the runner cannot call as `func(ctx)` (not at 3 a.m.)."""
    if _plainly_takes_one(func):
        return
    # lazy: a plain function is read from its code object; inspect costs a cron tick ~8 ms
    import inspect

    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # no signature to read (some builtins): the call will tell
        return
    try:
        signature.bind(None)
    except TypeError:
        name = getattr(func, "__name__", "the function")
        empty = inspect.Parameter.empty
        shown = signature.replace(parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
                                  return_annotation=empty)
        raise RegistryError(f"{where}: {name}{shown} cannot take the context:"
                            f" declare it as def {name}(ctx: TaskContext)") from None


def _plainly_takes_one(func: Any) -> bool:
    """Tell whether `func` is a plain function (not wrapped) that one positional argument can call."""
    if type(func) is not FunctionType or hasattr(func, "__wrapped__") or hasattr(func, "__signature__"):
        return False
    code = func.__code__
    positional = code.co_argcount
    kwonly = code.co_varnames[positional:positional + code.co_kwonlyargcount]
    if any(name not in (func.__kwdefaults__ or {}) for name in kwonly):
        return False
    required = positional - len(func.__defaults__ or ())
    return required <= 1 and (positional >= 1 or bool(code.co_flags & 0x04))  # 0x04: CO_VARARGS


def check_requires(where: str, requires: tuple[str, ...] | list[str] | str) -> tuple[str, ...]:
    """Validate `requires=` entries: `setting:<name>` (a setting that must be set) or `service:redis`."""
    items = (requires,) if isinstance(requires, str) else tuple(requires)
    for item in items:
        kind, _, name = item.partition(":") if isinstance(item, str) else ("", "", "")
        if kind == "setting" and name in ENV_VARS:
            continue
        if kind == "service" and name in ("redis", "app_db"):
            continue
        raise RegistryError(f"{where}: requires {item!r}: use setting:<name> (a setting of SPEC section 2) "
                            "or service:redis / service:app_db")
    return items



def _identify(target: TaskFunc | str, name: str | None,
              description: str | None) -> tuple[TaskFunc | None, str, str, str | None]:
    """Return (function, "module:attr" path, name, description) of a task's target."""
    if callable(target):
        doc = (target.__doc__ or "").strip().splitlines()
        return (target, f"{target.__module__}:{target.__qualname__}", name or target.__name__.replace("_", "-"),
                description if description is not None else (doc[0] if doc else ""))
    if ":" not in target:
        raise RegistryError(f"task target {target!r}: use 'module:function'")
    return None, target, name or target.rpartition(":")[2].replace("_", "-"), description


def _catchup_policy(where: str, resolved: str, catchup: Catchup | None, catchup_window: str | float,
                    catchup_max: int) -> tuple[Catchup, float]:
    """Return the checked catch-up policy (default: latest for an hourly or slower schedule) and window."""
    if catchup is None:
        catchup = "latest" if period_at_least_an_hour(resolved) else "skip"
    elif catchup not in CATCHUP_POLICIES:
        raise RegistryError(f"{where}: catchup must be 'skip', 'latest' or 'all', not {catchup!r}")
    window = parse_duration(catchup_window, f"{where}: catchup_window")
    if window < 60:
        raise RegistryError(f"{where}: catchup_window must be at least 1m")
    # At most 200: catch-up looks at a window's latest 200 slots (catchup.EXPLAIN_MAX_SLOTS).
    if isinstance(catchup_max, bool) or not isinstance(catchup_max, int) or not 1 <= catchup_max <= 200:
        raise RegistryError(f"{where}: catchup_max must be a whole number from 1 to 200")
    return catchup, window

def _placement(where: str, timezone: str | None, environments: tuple[str, ...] | list[str] | str,
               lock_scope: str, user: str | None) -> dict[str, Any]:
    """Return a task's checked zone, environments, lock scope and user, as Task's fields."""
    if timezone is not None:
        check_timezone(f"{where}: timezone", timezone)
    if lock_scope not in ("global", "local"):
        raise RegistryError(f"{where}: lock_scope must be 'global' or 'local'")
    if user is not None and not re.fullmatch(USER_PATTERN, str(user)):
        raise RegistryError(f"{where}: user {user!r} is not a user name")
    envs = (environments,) if isinstance(environments, str) else tuple(environments)
    return {"timezone": timezone, "environments": envs, "lock_scope": lock_scope, "user": user}


def _timing(where: str, timeout: str | float, retries: int, backoff: str | float, backoff_max: str | float,
            grace: str | float) -> dict[str, Any]:
    """Return a task's checked timeout, retries, backoff and grace, as Task's fields (seconds)."""
    if not retries >= 0 or isinstance(retries, bool) or not isinstance(retries, int):
        raise RegistryError(f"{where}: retries must be a whole number >= 0")
    seconds = parse_duration(timeout, f"{where}: timeout")
    if seconds <= 0:
        raise RegistryError(f"{where}: timeout must be positive")
    return {"timeout": seconds, "retries": retries, "backoff": parse_duration(backoff, f"{where}: backoff"),
            "backoff_max": parse_duration(backoff_max, f"{where}: backoff_max"),
            "grace": parse_duration(grace, f"{where}: grace")}


def _concurrency(where: str, singleton: bool | None, concurrency: str | None) -> tuple[bool, Concurrency]:
    """Return (singleton, concurrency) resolved from either or both, which must agree."""
    if concurrency is not None and concurrency not in CONCURRENCY_POLICIES:
        raise RegistryError(f"{where}: concurrency must be 'forbid', 'allow' or 'replace', not {concurrency!r}")
    if singleton is not None and not isinstance(singleton, bool):
        raise RegistryError(f"{where}: singleton must be True or False")
    if concurrency is None:
        return (True, "forbid") if singleton is None or singleton else (False, "allow")
    policy: Concurrency = concurrency  # type: ignore[assignment]
    if singleton is not None and singleton != (policy != "allow"):
        raise RegistryError(
            f"{where}: singleton={singleton} contradicts concurrency={policy!r} "
            "(singleton=False means concurrency='allow')"
        )
    return policy != "allow", policy


def task_config(task: Task, table: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a `[tasks.<name>]` table over the task's defaults; reject unknown keys and types."""
    merged = dict(task.defaults)
    for key, value in table.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise_config(f"tasks.{task.name}.enabled: must be true or false")
            continue
        if key == "insights":  # cronkit's own thresholds (SPEC 16), checked when the settings are read
            continue
        if key not in task.defaults:
            known = ", ".join(["enabled", "insights", *task.defaults])
            raise_config(f"tasks.{task.name}.{key}: unknown setting (known: {known})")
        default = task.defaults[key]
        if default is not None and not _same_kind(default, value):
            raise_config(f"tasks.{task.name}.{key}: expected {type(default).__name__}, got {value!r}")
        merged[key] = value
    return merged


def _same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(default, float) or isinstance(value, int))
    return isinstance(value, type(default))


def raise_config(message: str) -> NoReturn:
    """Raise ConfigError(message): a `[tasks.<name>]` table is wrong."""
    raise ConfigError(message)


def check_task_tables(registry: Registry, tables: Mapping[str, Mapping[str, Any]]) -> None:
    """Reject `[tasks.<name>]` tables that name no task or hold bad settings."""
    for name, table in tables.items():
        if name not in registry:
            raise_config(f"tasks.{name}: no such task in the registry")
        task_config(registry[name], table)
