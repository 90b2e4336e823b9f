"""Several registries as one (SPEC 17): the `registry` setting's comma-separated entries, `plugin:NAME`
entries published by installed distributions, and the adopted crontab's file.

Every task keeps where it came from (`Task.origin`); a task name defined twice is an error
naming both sources. A plain single registry loads exactly as before.
"""

from __future__ import annotations

from pathlib import Path

from cronkit.config.settings import Settings
from cronkit.errors import RegistryError
from cronkit.plain import replace
from cronkit.registry import Registry
from cronkit.registry.loader import NO_REGISTRY, import_root, load_registry

PLUGIN_GROUP = "cronkit.registries"
PLUGIN_PREFIX = "plugin:"


def registry_entries(settings: Settings) -> list[str]:
    """Return the registries to load: the setting's entries, then the adopted file when it exists.

    With the `registry` setting left at its default, an existing adopted file is the registry.
    """
    entries: list[str] = []
    seen: set[str] = set()
    adopted = settings.adopted
    listed = (settings.registry or "").split(",")
    if adopted is not None and adopted.is_file():
        if settings.sources.get("registry", "default") == "default":
            listed = []
        listed.append(str(adopted))
    for entry in listed:
        entry = entry.strip()
        key = str(Path(entry).expanduser().resolve()) if _is_file_entry(entry) else entry
        if entry and key not in seen:  # one file named twice (./x.py, x.py) loads once
            seen.add(key)
            entries.append(entry)
    return entries


def load_registries(settings: Settings) -> Registry:
    """Load the registries the settings name, as one Registry whose tasks know their origin."""
    entries = registry_entries(settings)
    if not entries:
        raise RegistryError(NO_REGISTRY)
    parts = [_load_entry(entry, settings.registry_path) for entry in entries]
    if len(parts) == 1:
        return parts[0]
    return merge(parts)


def _is_file_entry(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry


def _load_entry(entry: str, path: Path | None) -> Registry:
    """Load one entry (a module, a file or `plugin:NAME`) and mark its tasks with where they come from."""
    if entry.startswith(PLUGIN_PREFIX):
        registry, origin = load_plugin(entry.removeprefix(PLUGIN_PREFIX), path)
        registry.source = entry
    else:
        registry = load_registry(entry, path)
        origin = registry.source
    for task in list(registry):
        if task.origin != origin:
            registry._tasks[task.name] = replace(task, origin=origin)
    return registry


def load_plugin(name: str, path: Path | None) -> tuple[Registry, str]:
    """Load the registry an installed distribution publishes as `name` in the `cronkit.registries` group.

    Returns the registry and how `list` names its origin (`plugin:NAME (module, distribution)`).
    """
    # lazy: scanning the installed distributions' metadata costs tens of milliseconds, which a
    # cron tick pays only when a `plugin:` registry is configured.
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group=PLUGIN_GROUP) if ep.name == name]
    if not found:
        known = sorted({ep.name for ep in entry_points(group=PLUGIN_GROUP)})
        listed = ", ".join(known) if known else "none is installed"
        raise RegistryError(f"registry: plugin:{name}: no installed distribution publishes {name!r} "
                            f"in the {PLUGIN_GROUP} entry point group ({listed})")
    if len({ep.value for ep in found}) > 1:
        raise RegistryError(f"registry: plugin:{name}: published by several distributions: "
                            + ", ".join(sorted(ep.value for ep in found)))
    point = found[0]
    registry = load_registry(point.value, path)
    dist = getattr(point, "dist", None)
    owner = f", {dist.name} {dist.version}" if dist is not None else ""
    return registry, f"plugin:{name} ({point.value}{owner})"


def merge(parts: list[Registry]) -> Registry:
    """Return one Registry holding every part's tasks, in order; a name defined twice is an error."""
    merged = Registry(id=parts[0].id)
    merged.source = parts[0].source
    merged.parts = tuple(parts)
    for part in parts:
        for task in part:
            if task.name in merged:
                first = merged[task.name].origin
                raise RegistryError(f"task {task.name!r} is defined twice: in {first} and in {task.origin}")
            merged._tasks[task.name] = task
    return merged


def registry_location(registry: Registry, registry_setting: str,
                      leave_out: Path | None = None) -> tuple[str, str | None]:
    """Return (registry spec, import root): what a run started elsewhere needs to import the same registries.

    A file registry by its absolute path; a module by its name and, when it came from a directory
    of its own (a project directory, PYTHONPATH's), that directory (`registry_path`); a plugin by
    `plugin:NAME`. Several registries: their specs comma-separated, and the one import root they
    share (two different ones cannot be written into one `registry_path`). `leave_out`: the adopted
    crontab's file, which a run loads by itself while it exists (the `adopted` setting): named in the
    list, a run would fail once `adopt --undo` took it away.
    """
    parts = registry.parts or (registry,)
    specs: list[str] = []
    roots: list[str] = []
    for part in parts:
        if leave_out is not None and part.source and _is_file_entry(part.source) \
                and Path(part.source).expanduser().resolve() == leave_out.expanduser().resolve():
            continue
        if part.source.startswith(PLUGIN_PREFIX):
            specs.append(part.source)
            continue
        specs.append(part.source or registry_setting)
        root = import_root(part)
        if root is not None and root not in roots:
            roots.append(root)
    if len(roots) > 1:
        raise RegistryError(f"registry: the registries come from {len(roots)} project directories "
                            f"({', '.join(roots)}); a cron run can import from one: install them, or put "
                            "them in one directory")
    return ",".join(specs), roots[0] if roots else None
