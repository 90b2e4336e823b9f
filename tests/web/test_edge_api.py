"""Hostile values at the API's edge are 4xx problems, never a 500 (issue 25), on a real `cronkit serve`.

A NUL or a lone surrogate in a trigger's params used to be recorded, fail in Popen, answer 500 and
leave the run `running` under the service's pid: every later trigger of the task answered 409.
A lone surrogate or NaN already stored made every page that shows the run answer 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.schema import upgrade
from cronkit.safe.redact import Redactor
from cronkit.web.trigger import Caller, Launcher, TriggerRequest

from .serverkit import Server, Setup, csrf_of, is_problem, wait_run

BIG = "99999999999999999999999"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    setup = Setup(tmp_path_factory.mktemp("edge"))
    yield setup
    setup.server.stop()


def _raw_post(client: httpx.Client, path: str, body: str) -> httpx.Response:
    """POST a JSON text as written (json= would refuse a lone surrogate): `\\ud800` is a JSON escape."""
    return client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("value", ["\\u0000", "a\\u0000b", "\\ud800", "x\\udfffy", "\\udc80"])
def test_a_nul_or_lone_surrogate_in_a_param_is_422_and_records_nothing(api: Setup, value: str) -> None:
    before = api.sql("SELECT count(*) FROM runs WHERE task = 'quick'")[0][0]
    with api.server.client(api.trigger) as client:
        refused = is_problem(_raw_post(client, "/api/v1/tasks/quick/runs", f'{{"params": {{"p": "{value}"}}}}'), 422)
        assert refused["detail"].startswith("params.p: holds a ")
        key = is_problem(_raw_post(client, "/api/v1/tasks/quick/runs", f'{{"params": {{"{value}": "1"}}}}'), 422)
        assert key["detail"].startswith("params: ")
        seed = is_problem(_raw_post(client, "/admin/scheduler/trigger",
                                    f'{{"taskName": "quick", "params": {{"p": "{value}"}}}}'), 422)
        assert seed["detail"].startswith("params.p: holds a ")
        name = is_problem(_raw_post(client, "/admin/scheduler/trigger", f'{{"taskName": "q{value}"}}'), 422)
        assert name["detail"].startswith("taskName: holds a ")
        # Nothing was recorded, so the task is not held: the next trigger is taken.
        started = client.post("/api/v1/tasks/quick/runs", json={"params": {"p": "fine"}})
        assert started.status_code == 202, started.text
        assert wait_run(client, started.json()["run_id"])["status"] == "succeeded"
    assert api.sql("SELECT count(*) FROM runs WHERE task = 'quick'")[0][0] == before + 1
    audited = api.sql("SELECT result, status_code FROM audit WHERE action = 'trigger' ORDER BY id DESC LIMIT 5")
    assert audited == [("accepted", 202)] + [("invalid", 422)] * 4


def test_other_bad_trigger_values_are_422(api: Setup) -> None:
    with api.server.client(api.trigger) as client:
        for body in ('{"params": {"p": 1e999}}', '{"params": {"p": NaN}}',
                     json.dumps({"params": {f"p{n}": "1" for n in range(65)}}),
                     json.dumps({"params": {"p": "x" * 1025}})):
            is_problem(_raw_post(client, "/api/v1/tasks/quick/runs", body), 422)
        # Nesting past the recursion limit is no JSON the service takes: 400, not a 500.
        is_problem(_raw_post(client, "/api/v1/tasks/quick/runs", "[" * 8000), 400)
        is_problem(_raw_post(client, "/admin/scheduler/trigger", '{"params": ' * 1200), 400)
    with api.server.client(api.admin) as admin:
        is_problem(_raw_post(admin, "/api/v1/tokens", "[" * 8000), 400)
        is_problem(_raw_post(admin, "/api/v1/tokens", '{"name": "a\\u0000", "role": "viewer"}'), 422)


def test_bad_pause_values_are_4xx(api: Setup) -> None:
    with api.server.client(api.trigger) as client:
        for body, status in (('{"reason": "a\\u0000b"}', 422), ('{"reason": "\\ud800"}', 422),
                             ('{"until": "9999-12-31T23:59-01:00"}', 422), ('{"until": "0001-01-01T00:00+01:00"}', 422),
                             ('{"until": "\u00b2:00"}', 422), (f'{{"for": "{BIG}d"}}', 422), ("[" * 8000, 400)):
            is_problem(_raw_post(client, "/api/v1/tasks/quick/pause", body), status)
    assert api.sql("SELECT count(*) FROM pauses") == [(0,)]


def test_ids_and_queries_past_64_bits_are_4xx(api: Setup) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(f"v1:{BIG}".encode()).decode().rstrip("=")
    with api.server.client(api.admin) as client:
        for path, status in ((f"/api/v1/runs/{BIG}", 404), ("/api/v1/runs/9223372036854775808", 404),
                             ("/api/v1/runs/%C2%B2", 404),  # '²': str.isdigit says yes
                             (f"/api/v1/runs?since={BIG}", 422), (f"/api/v1/runs?since={BIG}d", 422),
                             ("/api/v1/runs?since=0001-01-01T00:00%2B01:00", 422),
                             (f"/api/v1/audit?since={BIG}", 422), (f"/api/v1/runs?cursor={cursor}", 422),
                             (f"/api/v1/audit?cursor={cursor}", 422), ("/api/v1/runs?limit=%C2%B2", 422),
                             (f"/api/v1/runs?limit={BIG}", 422), ("/api/v1/runs?task=%00", 422),
                             ("/api/v1/dead-letters?task=a%00b", 422), ("/api/v1/tasks/%00", 404)):
            is_problem(client.get(path), status)


def _sign_in(server: Server, token: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    done = client.post("/signin", data={"csrf": csrf_of(client.get("/signin").text), "token": token, "next": "/"})
    assert done.status_code == 303, done.text
    return client


def test_a_lone_surrogate_or_nan_already_stored_is_no_500(api: Setup) -> None:
    with api.server.client(api.trigger) as client:
        run_id = client.post("/api/v1/tasks/quick/runs", json={}).json()["run_id"]
        wait_run(client, run_id)
    # As a run log written before the edge refused them holds them (a JSON escape in the text column).
    api.sql("UPDATE runs SET params = ?, result = ? WHERE id = ?",
            '{"p": "\\ud800x"}', '{"ratio": NaN, "k\\udcff": Infinity}', run_id)
    with api.server.client(api.read) as client:
        one = client.get(f"/api/v1/runs/{run_id}")
        assert one.status_code == 200, one.text
        assert one.json()["params"] == {"p": "\ud800x"} and one.json()["result"] == {"ratio": "NaN", "k\udcff": "Infinity"}
        listed = client.get("/api/v1/runs?task=quick")
        assert listed.status_code == 200 and any(r["params"] == {"p": "\ud800x"} for r in listed.json()["runs"])
        assert client.get("/api/v1/tasks/quick").status_code == 200
        assert client.get("/api/v1/status").status_code == 200
    browser = _sign_in(api.server, api.read)
    try:
        page = browser.get(f"/runs/{run_id}")
        assert page.status_code == 200 and "\\ud800x" in page.text
        assert browser.get("/tasks/quick").status_code == 200
        for path in (f"/runs/{BIG}", "/runs/%C2%B2"):  # no such run
            assert browser.get(path).status_code == 404, path
        for path in (f"/tasks/quick?before={BIG}", "/tasks/quick?before=%C2%B2", "/tasks/quick?started=%C2%B2"):
            assert browser.get(path).status_code == 200, path  # a cursor out of range or not a number is no error
    finally:
        browser.close()


def test_a_start_that_fails_is_recorded_as_such(tmp_path: Path) -> None:
    """Popen raising anything (here ValueError: an environment name it refuses) finishes the run
    `failed` and its audit row says `not_started`: the task is not held by a run nobody ends."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'cronkit.db'}")
    upgrade(engine)
    launcher = Launcher(engine, Redactor(), {"BAD=NAME": "x"}, {"quick": True})
    caller = Caller("deployer", "127.0.0.1", "test")
    answers = [launcher.trigger(TriggerRequest(task="quick"), caller) for _ in range(2)]
    assert [a.status for a in answers] == [503, 503]  # not 409: the first run did not stay `running`
    assert answers[0].body["detail"].startswith("could not start cronkit run: ValueError")
    with engine.connect() as conn:
        runs = conn.exec_driver_sql("SELECT status, exit_code, error FROM runs ORDER BY id").fetchall()
        audit = conn.exec_driver_sql("SELECT result, status_code FROM audit ORDER BY id").fetchall()
    assert [r[:2] for r in runs] == [("failed", 69), ("failed", 69)]
    assert audit == [("not_started", 503), ("not_started", 503)]
    engine.dispose()
