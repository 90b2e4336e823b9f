"""Find and import a registry: a module (`pkg.module[:attr]`) or a `.py` file, the way a cron run
will find it too, and the directory `install` records for that (`import_root`)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import site
import sys
import sysconfig
import types
from pathlib import Path

from cronkit.errors import ConfigError, CronkitError, RegistryError
from cronkit.plain import TYPE_CHECKING
from cronkit.registry import Registry
from cronkit.safe.redact import Redactor

if TYPE_CHECKING:
    from cronkit.config.settings import Settings

NO_REGISTRY = ("no task registry configured: set CRONKIT_TASKS (pkg.module, pkg.module:attr or file.py),"
               " --tasks, or `registry` in cronkit.toml (`cronkit demo run` tries the built-in tasks)")


def configured_registry(settings: Settings) -> str:
    """Return the registry the settings name (else the adopted crontab's file, when it exists);
    ConfigError (exit 78) naming CRONKIT_TASKS when there is neither.

    No registry is never the built-in demo's: `install` would put the demo tasks into the user's
    crontab. Only `cronkit demo ...` names `cronkit.tasks` itself.
    """
    if settings.registry is not None:
        return settings.registry
    if settings.adopted is not None and settings.adopted.is_file():
        return str(settings.adopted)
    raise ConfigError(NO_REGISTRY)


def registry_spec(registry: Registry, settings: Settings) -> str:
    """Return how a run elsewhere names this loaded registry: the `registry` setting, else the spec it
    was loaded from (a library caller that loaded it by name); an error when it has neither."""
    if settings.registry is None and registry.source:
        return registry.source
    return configured_registry(settings)


def load_registry(spec: str, path: Path | str | None = None) -> Registry:
    """Load a registry from `pkg.module`, `pkg.module:attr` or a path to a `.py` file.

    A module is looked up the way `python -m` would find it from here, but without letting the
    current directory shadow an installed module: `path` (the `registry_path` setting) first
    when given, then the interpreter's path (PYTHONPATH, site-packages), then the current
    directory. `install` records the directory the module came from (`import_root`).
    """
    is_file = spec.endswith(".py") or "/" in spec
    _extend_sys_path(path, cwd_last=not is_file)
    attr = None
    if is_file:
        module, module_name = _exec_file(Path(spec).expanduser().resolve())
        source = str(module.__file__)
    else:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except CronkitError:  # a registration error (bad schedule, name, option) says it all already
            raise
        except Exception as exc:
            raise RegistryError(f"registry: {module_name} failed to import: {_said(exc)}") from exc
        source = spec
    if attr:
        registry = getattr(module, attr, None)
        if not isinstance(registry, Registry):
            raise RegistryError(f"registry: {spec} is not a Registry")
    else:
        found = [v for v in vars(module).values() if isinstance(v, Registry)]
        if len(found) != 1:
            raise RegistryError(f"registry: {spec} must define exactly one Registry (found {len(found)}); name it with module:attr")
        registry = found[0]
    registry.id = registry.id or module_name
    registry.source = source
    return registry


def _said(exc: BaseException) -> str:
    """Return what an import error says, redacted: the message reaches stderr, `health` and the
    start-failure record, and a registry that fails on its configuration often names a secret."""
    return Redactor.from_sources(os.environ)(f"{type(exc).__name__}: {exc}")


def _extend_sys_path(path: Path | str | None, *, cwd_last: bool) -> None:
    """Put `path` (registry_path) first on sys.path; else, for a module spec, the current directory last."""
    if path is not None:
        entry = str(path)
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    elif cwd_last:
        cwd = os.getcwd()
        if cwd not in sys.path and "" not in sys.path:
            sys.path.append(cwd)


def _exec_file(path: Path) -> tuple[types.ModuleType, str]:
    """Run a registry file as a module of its own; return it and its name (the file's stem).

    A private module name, so that a registry file called like an installed module (redis.py,
    tasks.py) does not replace it; its own directory is importable, last.
    """
    if not path.is_file():
        raise RegistryError(f"registry: file not found: {path}")
    module_name = path.stem  # the block id: stable across release directories
    key = f"cronkit_registry_{module_name}"
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    try:
        module_spec = importlib.util.spec_from_file_location(key, path)
        assert module_spec is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[key] = module
        # Compiled from source every time, never through a .pyc: a registry file edited in
        # place within the same second and to the same size would otherwise load stale.
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
    except CronkitError:  # a registration error (bad schedule, name, option) says it all already
        raise
    except Exception as exc:
        raise RegistryError(f"registry: {path} failed to import: {_said(exc)}") from exc
    module.__file__ = str(path)
    return module, module_name


def import_root(registry: Registry) -> str | None:
    """Return the sys.path entry a module registry was imported from, when a cron run needs it.

    None for a file registry (its path is absolute already), for cronkit's own, and for a
    module of the interpreter's own directories (site-packages, the standard library), which
    every run of this installation finds anyway.
    """
    source = registry.source
    if not source or source.startswith("/"):
        return None
    top = source.partition(":")[0].split(".")[0]
    module = sys.modules.get(top)
    if module is None or top == "cronkit":
        return None
    file = getattr(module, "__file__", None)
    if file:
        where = Path(file).resolve()
        root = where.parent.parent if where.name == "__init__.py" else where.parent
    else:  # a namespace package
        locations = list(getattr(module, "__path__", []))
        if not locations:
            return None
        root = Path(locations[0]).resolve().parent

    own = {Path(p).resolve() for key in ("purelib", "platlib", "stdlib", "platstdlib")
           if (p := sysconfig.get_paths().get(key))}
    own.update(Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()])
    return None if root in own else str(root)
