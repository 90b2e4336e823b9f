"""The generated parts of the documentation: CLI, settings and error references, the changelog.

Each function returns Markdown built from the code's own declarations, so that the pages cannot
drift from it: the command tree typer builds from cronkit/cli (every command, argument and option
with its help and default), the settings of cronkit/config/settings.py (file key, `CRONKIT_*` variable,
option, default) with their meanings from cronkit/config/docs.py, and the error classes of
cronkit/errors.py with their exit codes. hooks.py puts them into the pages at build time; the tests
(tests/docs/) call them too.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def use_working_tree() -> None:
    """Import cronkit from this checkout, not from an installed copy (mkdocs resets sys.path after
    loading the hooks, so this runs before each generator)."""
    if sys.path[:1] != [str(ROOT)]:
        sys.path.insert(0, str(ROOT))
    loaded = sys.modules.get("cronkit")
    if loaded is not None and not str(loaded.__file__).startswith(str(ROOT / "cronkit")):
        raise RuntimeError(f"cronkit was imported from {loaded.__file__}, not from {ROOT}")


class Undocumented(Exception):
    """A declaration the references cannot describe (a setting without a meaning)."""


# ---------------------------------------------------------------------------------------- CLI


def command_tree() -> Any:
    """Return the click command that typer builds for `cronkit` (the CLI's own declaration)."""
    import typer.main

    from cronkit.cli.app import app

    return typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ("cronkit",)) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, command) for the command and every subcommand, depth first, in name order."""
    yield path, command
    for name in sorted(getattr(command, "commands", {}) or {}):
        sub = command.commands[name]
        if not sub.hidden:
            yield from walk(sub, (*path, name))


TYPE_WORDS = {"str": "TEXT", "text": "TEXT", "integer": "INTEGER", "integer range": "INTEGER", "int range": "INTEGER",
              "float": "NUMBER", "float range": "NUMBER", "path": "PATH", "choice": "CHOICE", "boolean": "BOOLEAN"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _option_row(param: Any) -> str:
    names = ", ".join(f"`{name}`" for name in [*param.opts, *param.secondary_opts])
    if getattr(param, "is_flag", False):
        takes = "flag"
    else:
        takes = param.metavar or TYPE_WORDS.get(getattr(param.type, "name", ""), "TEXT")
        if getattr(param, "multiple", False):
            takes += " (repeatable)"
    default = param.default
    shown = "" if default in (None, False, (), []) or getattr(param, "is_flag", False) else f"`{default}`"
    if getattr(param, "required", False):
        shown = "required"
    return f"| {names} | {_cell(takes)} | {shown} | {_cell(param.help or '')} |"


def _help_parts(text: str) -> tuple[str, list[str]]:
    """Split a command's help into its prose and its `Example:` lines."""
    prose, examples = [], []
    for para in (text or "").split("\n\n"):
        if para.strip().startswith("Example:"):
            examples.append(para.strip()[len("Example:"):].strip())
        else:
            prose.append(" ".join(para.split()))
    return "\n\n".join(p for p in prose if p), examples


def cli_markdown() -> str:
    """Return every command, argument and option of `cronkit`, as the CLI declares them."""
    out: list[str] = []
    for path, command in walk(command_tree()):
        depth = min(len(path) + 1, 4)
        out.append(f"{'#' * depth} `{' '.join(path)}`\n")
        prose, examples = _help_parts(command.help or "")
        if prose:
            out.append(prose + "\n")
        args = [p for p in command.params if p.param_type_name == "argument"]
        options = [p for p in command.params if p.param_type_name == "option"]
        if args:
            usage = " ".join(a.human_readable_name for a in args)
            out.append(f"Arguments: `{usage}`.\n")
        if options:
            out.append("| option | takes | default | meaning |\n|---|---|---|---|")
            out.extend(_option_row(p) for p in options)
            out.append("")
        if examples:
            out.append("```text\n" + "\n".join(f"$ {e}" for e in examples) + "\n```\n")
    return "\n".join(out)


def command_names() -> list[str]:
    """Return every command path (`cronkit dlq retry`), for the tests."""
    return [" ".join(path) for path, _ in walk(command_tree())]


# ----------------------------------------------------------------------------------- settings


def _literal_default(name: str) -> str:
    from cronkit import plain
    from cronkit.config.settings import Settings

    for f in plain.fields(Settings):
        if f.name == name and f.default is not plain.MISSING:
            value = f.default
            if isinstance(value, tuple):
                value = " ".join(value)
            if isinstance(value, bool):
                value = str(value).lower()
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return f"`{value}`" if value not in (None, "") else "unset"
    return ""


def _setting_options() -> dict[str, str]:
    """Return setting -> the command-line option that sets it (global options and serve's)."""
    from cronkit.cli.commands import GLOBAL_OPTIONS

    alias = {"env": "environment", "tasks": "registry"}
    out = {alias.get(o.dest, o.dest): f"`{o.name}`" for o in GLOBAL_OPTIONS if o.dest != "config"}
    serve = command_tree().commands["serve"]
    for param in serve.params:
        found = re.match(r"[^(]*\((\w+)[;)]", param.help or "")
        if found:
            out[found.group(1)] = f"`serve {param.opts[0]}`"
    return out


def settings_rows() -> list[dict[str, str]]:
    """Return one row per setting: key, variable, option, default, meaning. Raise Undocumented."""
    from cronkit.config.settings import ENV_VARS, FILE_ONLY_KEYS, RUNTIME_ENV_VARS
    from cronkit.config.docs import SETTING_DOCS

    options = _setting_options()
    names = [*ENV_VARS, *RUNTIME_ENV_VARS, *sorted(FILE_ONLY_KEYS)]
    missing = [name for name in names if name not in SETTING_DOCS]
    if missing:
        raise Undocumented(f"settings without a meaning in cronkit/config/docs.py: {', '.join(missing)}")
    rows = []
    for name in names:
        default, meaning = SETTING_DOCS[name]
        variable = (ENV_VARS | RUNTIME_ENV_VARS).get(name)
        rows.append({"key": f"`{name}`", "variable": f"`{variable}`" if variable else "file only",
                     "option": options.get(name, ""), "default": default or _literal_default(name),
                     "meaning": meaning})
    return rows


def settings_markdown() -> str:
    """Return the settings reference: every setting, then the variables read or set elsewhere."""
    from cronkit.config.docs import COMMAND_TASK_VARIABLES, OTHER_VARIABLES

    out = ["| key in `cronkit.toml` | environment | option | default | meaning |", "|---|---|---|---|---|"]
    for row in settings_rows():
        out.append(f"| {row['key']} | {row['variable']} | {row['option']} | {_cell(row['default'])} | "
                   f"{_cell(row['meaning'])} |")
    out += ["", "Other variables cronkit reads:", "", "| variable | meaning |", "|---|---|"]
    out += [f"| `{name}` | {_cell(text)} |" for name, text in OTHER_VARIABLES.items()]
    out += ["", "Variables `cronkit run` sets for a command task ([shell commands](../adopt.md)):", "",
            "| variable | meaning |", "|---|---|"]
    out += [f"| `{name}` | {_cell(text)} |" for name, text in COMMAND_TASK_VARIABLES.items()]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- errors


def error_classes() -> list[type[BaseException]]:
    """Return CronkitError and every subclass of it in the package, errors.py's first, then by module."""
    import importlib
    import pkgutil

    import cronkit
    from cronkit import errors

    for info in pkgutil.walk_packages(cronkit.__path__, "cronkit."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    found: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [errors.CronkitError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())

    def order(cls: type[BaseException]) -> tuple[bool, str, int]:
        return (cls.__module__ != errors.__name__, cls.__module__, inspect.getsourcelines(cls)[1])

    return sorted(set(found), key=order)


def errors_markdown() -> str:
    """Return the runbook's table: each error class, its exit code, what it means, what to do."""
    from cronkit import errors

    out = ["| error | exit | what it means | what to do |", "|---|---|---|---|"]
    for cls in error_classes():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        todo = getattr(cls, "what_to_do", "")
        code = getattr(cls, "exit_code", errors.EXIT_FAILED)
        where = cls.__module__.removeprefix("cronkit.")
        out.append(f"| `{cls.__name__}` ({where}) | {code} | {_cell(doc)} | {_cell(todo)} |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------- changelog


def changelog_markdown() -> str:
    """Return CHANGELOG.md without its title, its headings one level down."""
    text = (ROOT / "CHANGELOG.md").read_text()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(("#" + line) if line.startswith("#") else line for line in lines) + "\n"


GENERATORS = {"cli": cli_markdown, "settings": settings_markdown, "errors": errors_markdown,
              "changelog": changelog_markdown}
MARKER = re.compile(r"^<!-- gen:(\w+) -->$", re.M)  # a line of its own: not one quoted in a sentence


def expand(markdown: str) -> str:
    """Replace each `<!-- gen:NAME -->` marker by what GENERATORS[NAME] returns."""
    use_working_tree()
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)
