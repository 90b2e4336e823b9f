"""cronfile.block's one parser of "which task does this line run", and state's one default inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cronkit.config.settings import load_settings
from cronkit.cronfile.block import CHECK_LINES, lines_by_owner, task_of_line
from cronkit.cronfile.render import RenderInputs, render
from cronkit.cronfile.state import STATE_FILE, default_block_id, default_inputs, read_install_state
from cronkit.registry import Registry

RUN = "/usr/bin/cronkit --config /h/c.toml run"


@pytest.mark.parametrize(("line", "task"), [
    (f"0 3 * * * {RUN} alpha --trigger cron", "alpha"),
    (f"0 3 * * * {RUN} alpha", "alpha"),
    (f"0 3 * * *\t{RUN}\tbeta-2\t--trigger cron", "beta-2"),
    # a cron.d line whose user field is `run`: the verb is the `run` followed by a task name
    (f"0 3 * * * run {RUN} alpha --trigger cron", "alpha"),
    # a quoted path holding ' run ' is one word
    ("0 3 * * * '/opt/x run y z/cronkit' --config /h/c.toml run alpha --trigger cron", "alpha"),
    # cron's `\%` is a literal percent sign inside the quoted path
    ("0 3 * * * /usr/bin/cronkit --config '/h/50\\%/c.toml' run alpha --trigger cron", "alpha"),
    ("0 3 * * * /usr/bin/backup --run-fast", None),
    ("0 3 * * * /usr/bin/cronkit run Alpha", None),
    ("0 3 * * * /usr/bin/cronkit run", None),
    (f"0 3 * * * {RUN} 'alpha", None),  # the shell would refuse the line: it runs nothing
    (f"# {RUN} alpha", None),
    (f"   # {RUN} alpha", None),
    ("", None),
    ("MAILTO=ops@example.com", None),
])
def test_task_of_line(line: str, task: str | None) -> None:
    assert task_of_line(line) == task


def registry() -> Registry:
    reg = Registry(id="app")
    reg.add("0 3 * * *", "os:getcwd", name="nightly")
    reg.add("30 2 * * *", "os:getcwd", name="paris", timezone="Europe/Paris")
    reg.add("0-59/20 1 * * *", "os:getcwd", name="run")
    return reg


@pytest.mark.parametrize(("target", "user"), [("user", None), ("cron.d", "run"), ("cron.d", "app")])
def test_the_parser_reads_back_every_rendered_block(tmp_path: Path, target: str, user: str | None) -> None:
    settings = load_settings({"environment": "production"}, environ={"CRONKIT_HOME": str(tmp_path)})
    inputs = RenderInputs(block_id="app", host_zone="America/New_York", executable="/opt/my run/cronkit",
                          run_config="/var/lib/50%/c.toml", target=target, user=user)
    rendered = render(registry(), settings, inputs)
    assert len(rendered.lines["paris"]) > 1  # a foreign zone: several host lines and a comment
    assert {k: v for k, v in lines_by_owner(rendered.text).items() if k != CHECK_LINES} == rendered.lines


def test_default_inputs_one_default_for_cli_and_reinstall(tmp_path: Path) -> None:
    settings = load_settings({"environment": "production"},
                             environ={"CRONKIT_HOME": str(tmp_path), "CRONKIT_TASKS": "cronkit.tasks"})
    reg = registry()
    assert default_block_id(settings, reg) == "app"
    reg.id = None
    assert default_block_id(settings, reg) == settings.registry
    reg.id = "app"

    derived = default_inputs(settings, reg, "cron.d", user="app")
    assert (derived.block_id, derived.target, derived.user) == ("app", "cron.d", "app")
    assert derived.run_config == str(tmp_path / "cron" / "app.toml")
    given = default_inputs(settings, reg, "user", block_id="other.id", host_zone="Asia/Kolkata",
                           executable="/x/cronkit", run_config="/x/c.toml")
    assert given == RenderInputs("other.id", "Asia/Kolkata", "/x/cronkit", "/x/c.toml", "user", None)

    state = {"target": "cron.d", "block_id": "old", "host_zone": "Europe/Paris", "user": "app",
             "executable": "/old/cronkit", "run_config": "/old/c.toml"}
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    recorded = read_install_state(settings)
    assert default_inputs(settings, reg, "cron.d", recorded) == RenderInputs(
        "old", "Europe/Paris", "/old/cronkit", "/old/c.toml", "cron.d", "app")
    # the recorded install is for another target, or another block: derived defaults again
    assert default_inputs(settings, reg, "user", recorded).block_id == "app"
    assert default_inputs(settings, reg, "cron.d", recorded, block_id="app", user="app").run_config == derived.run_config
