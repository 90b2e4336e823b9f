"""Walk the typer app's command tree: every command line a user can type, as a list of words."""

from __future__ import annotations

from collections.abc import Iterator

from typer.core import TyperGroup


def all_commands() -> list[list[str]]:
    import typer.main

    from cronkit.cli.app import app

    def walk(command: object, prefix: list[str]) -> Iterator[list[str]]:
        yield prefix
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                yield from walk(sub, [*prefix, name])

    return list(walk(typer.main.get_command(app), []))
