"""The dashboard's pages over real HTTP (issue 26): a run's traceback as `show` has it, a select for a
parameter with fixed choices, and the true schedule text in the pages and the API."""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import write_registry
from .serverkit import Server, cli, csrf_of, make_token

REGISTRY = '''
from cronkit.registry.params import Param

@registry.task("*/45 * * * *", name="pick", environments=("*",),
               params={"mode": Param("str", "how much", choices=("fast", "full")), "verbose": Param("bool")})
def pick(ctx: TaskContext) -> dict:
    return dict(ctx.params)

@registry.task("0 6 * * *", name="boom", environments=("*",))
def boom(ctx: TaskContext) -> dict:
    raise ValueError("kaput <b>not markup</b>")
'''


class Site:
    def __init__(self, root: Path) -> None:
        home = root / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        env.update({"CRONKIT_HOME": str(home), "HOME": str(root), "COLUMNS": "200",
                    "CRONKIT_TASKS": str(write_registry(root / "page_tasks.py", REGISTRY))})
        env.pop("XDG_STATE_HOME", None)
        self.env, self.root = env, root
        failed = cli(env, root, "run", "boom")
        assert failed.returncode == 1, failed.stderr
        self.token = make_token(env, root, "ops", "admin")
        self.server = Server(env, root)

    @contextlib.contextmanager
    def session(self) -> Iterator[httpx.Client]:
        """Yield a client signed in through the form."""
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            page = client.get("/signin")
            done = client.post("/signin", data={"csrf": csrf_of(page.text), "token": self.token, "next": "/"})
            assert done.status_code == 303, done.text
            yield client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    setup = Site(tmp_path_factory.mktemp("pages"))
    yield setup
    setup.server.stop()


def test_the_run_page_shows_the_traceback_show_has(site: Site) -> None:
    shown = cli(site.env, site.root, "show", "1", "--json")
    traceback = json.loads(shown.stdout)["traceback"]
    assert "ValueError: kaput" in traceback
    with site.session() as client:
        page = client.get("/runs/1")
    assert page.status_code == 200
    assert "<h2>Traceback</h2>" in page.text
    shown_there = re.search(r'<pre class="output" id="run-traceback">(.*?)</pre>', page.text, re.S)
    assert shown_there is not None and html.unescape(shown_there.group(1)) == traceback
    assert "<b>not markup</b>" not in page.text  # escaped, as every other field


def test_a_parameter_with_fixed_choices_gets_a_select(site: Site) -> None:
    with site.session() as client:
        page = client.get("/tasks/pick")
    assert page.status_code == 200
    assert '<select id="param-mode" name="param.mode">' in page.text
    assert '<option value="fast">fast</option><option value="full">full</option>' in page.text
    assert '<select id="param-verbose" name="param.verbose">' in page.text  # a bool: true or false
    assert '<option value="true">true</option><option value="false">false</option>' in page.text


def test_the_schedule_text_is_true_in_the_pages_and_the_api(site: Site) -> None:
    text = "At 0 and 45 minutes past the hour"
    with site.session() as client:
        assert text in client.get("/").text
    with site.server.client(site.token) as api:
        tasks = api.get("/api/v1/tasks").json()
    rows = tasks["tasks"] if isinstance(tasks, dict) else tasks
    assert {row["name"]: row["schedule_text"] for row in rows}["pick"] == text
