"""`cronkit serve` for real: uvicorn in a subprocess, httpx as the client (SPEC 10, issue 14)."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cronkit.web.service import TOKEN_RECHECK
from tests.fixturetypes import RunCli

from ..conftest import CRONKIT, free_port, write_registry
from .serverkit import (
    REGISTRY,
    SECRET_VALUE,
    Server,
    Setup,
    cli,
    is_problem,
    make_token,
    server_env,
    wait_run,
)


@pytest.fixture
def cronkit_env(cronkit_env: dict[str, str]) -> dict[str, str]:
    """These tests use the built-in registry, named explicitly (no registry configured is an error)."""
    cronkit_env["CRONKIT_TASKS"] = "cronkit.tasks"
    return cronkit_env


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    setup = Setup(tmp_path_factory.mktemp("serve"))
    yield setup
    setup.server.stop()


def test_healthz_needs_nothing_and_the_api_needs_a_token(api: Setup) -> None:
    with api.server.client() as anon:
        assert anon.get("/healthz").json() == {"ok": True}
        for path in ("/api/v1/status", "/api/v1/tasks", "/api/v1/runs", "/metrics", "/health/deep",
                     "/api/v1/dead-letters", "/api/v1/audit"):
            body = is_problem(anon.get(path), 401)
            assert body["type"].endswith("/token-missing")
        is_problem(anon.get("/api/v1/nothing-here"), 404)
        is_problem(anon.put("/healthz"), 405)
    with api.server.client("ck_000000000000_" + "x" * 43) as bad:
        assert is_problem(bad.get("/api/v1/status"), 401)["type"].endswith("/token-invalid")
    with api.server.client("not-even-a-token") as bad:
        is_problem(bad.get("/api/v1/tasks"), 401)


def test_read_routes_answer_with_their_documented_keys(api: Setup) -> None:
    with api.server.client(api.read) as client:
        status = client.get("/api/v1/status")
        assert status.status_code == 200
        assert {"initialized", "enabled", "environment", "timezone", "total_jobs", "active_jobs", "failed_jobs",
                "last_health_check", "services", "tasks"} <= set(status.json())
        tasks = client.get("/api/v1/tasks").json()
        assert [t["name"] for t in tasks] == ["quick", "slow", "leaky", "broken"]
        assert tasks == json.loads(api.cli("list", "--json").stdout)  # the same as `list --json`
        one = client.get("/api/v1/tasks/quick").json()
        assert one["name"] == "quick" and one["schedule"] == "0 3 * * *" and isinstance(one["recent_runs"], list)
        missing = is_problem(client.get("/api/v1/tasks/quik"), 404)
        assert missing["suggestions"] == ["quick"]
        assert client.get("/api/v1/dead-letters").status_code == 200
        is_problem(client.get("/api/v1/runs/999999"), 404)
        is_problem(client.get("/api/v1/runs?status=nope"), 422)
        is_problem(client.get("/api/v1/runs?limit=0"), 422)
        is_problem(client.get("/api/v1/runs?cursor=garbage!"), 422)
        is_problem(client.get("/api/v1/runs?since=yesterday-ish"), 422)
        assert is_problem(client.get("/api/v1/audit"), 403)["type"].endswith("/scope")
        assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    with api.server.client(api.admin) as admin:
        assert set(admin.get("/api/v1/audit").json()) == {"audit", "next_cursor"}


def test_trigger_is_audited_and_shows_in_history_with_trigger_api(api: Setup) -> None:
    with api.server.client(api.trigger, timeout=30) as client:
        answer = client.post("/api/v1/tasks/quick/runs", json={"params": {"region": "eu"}, "dry_run": True},
                             headers={"User-Agent": "deploy-bot/1.0"})
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert set(body) == {"run_id", "task", "status"} and body["task"] == "quick" and body["status"] == "running"
        assert answer.headers["location"] == f"/api/v1/runs/{body['run_id']}"
        run = wait_run(client, body["run_id"])
        assert run["status"] == "succeeded" and run["trigger"] == "api" and run["dry_run"] is True
        assert run["result"] == {"params": {"region": "eu"}, "dry_run": True}
        assert run["user"] == "api:deployer"
        # The seed's route, as its note writes it.
        seed = client.post("/admin/scheduler/trigger", json={"taskName": "quick"})
        assert seed.status_code == 202, seed.text
        wait_run(client, seed.json()["run_id"])
    history = json.loads(api.cli("history", "quick", "--json").stdout)
    assert {(r["id"], r["trigger"]) for r in history} >= {(body["run_id"], "api"), (seed.json()["run_id"], "api")}
    rows = json.loads(api.cli("audit", "--json").stdout)
    row = next(r for r in rows if r["run_id"] == body["run_id"])
    assert row["action"] == "trigger" and row["result"] == "accepted" and row["token"] == "deployer"
    assert row["user_agent"] == "deploy-bot/1.0" and row["remote_addr"] == "127.0.0.1"
    assert row["params"] == {"region": "eu", "dry_run": True} and row["status_code"] == 202
    # The run and its audit row were written together: every accepted row names a run that exists.
    accepted = api.sql("SELECT run_id FROM audit WHERE result = 'accepted'")
    assert all(api.sql("SELECT 1 FROM runs WHERE id = ?", r[0]) for r in accepted)


def test_idempotency_key_replays_the_first_answer(api: Setup) -> None:
    with api.server.client(api.trigger) as client:
        headers = {"Idempotency-Key": "deploy-4711"}
        first = client.post("/api/v1/tasks/quick/runs", json={"params": {"n": 1}}, headers=headers)
        again = client.post("/api/v1/tasks/quick/runs", json={"params": {"n": 1}}, headers=headers)
        assert first.status_code == again.status_code == 202
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert again.headers["location"] == first.headers["location"]
        other = client.post("/api/v1/tasks/quick/runs", json={"params": {"n": 2}}, headers=headers)
        assert is_problem(other, 422)["type"].endswith("/idempotency-key-reused")
        wait_run(client, first.json()["run_id"])
    runs = api.sql("SELECT count(*) FROM runs WHERE params = ?", json.dumps({"n": "1"}))
    assert runs == [(1,)]
    results = [r[0] for r in api.sql("SELECT result FROM audit WHERE idempotency_key = 'deploy-4711' ORDER BY id")]
    assert results == ["accepted", "replayed", "idempotency_mismatch"]


@pytest.mark.slow
def test_two_concurrent_triggers_of_a_singleton_one_wins(api: Setup) -> None:
    def fire(_: int) -> httpx.Response:
        with api.server.client(api.trigger) as client:
            return client.post("/api/v1/tasks/slow/runs", json={"params": {"seconds": "3"}})

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(fire, range(2)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [202, 409], [a.text for a in answers]
    won = next(a for a in answers if a.status_code == 202).json()
    lost = is_problem(next(a for a in answers if a.status_code == 409), 409)
    assert lost["run_id"] == won["run_id"] and lost["task"] == "slow"
    with api.server.client(api.read) as client:
        assert wait_run(client, won["run_id"])["status"] == "succeeded"
    conflict = api.sql("SELECT run_id, status_code FROM audit WHERE result = 'conflict' AND task = 'slow'")
    assert conflict == [(won["run_id"], 409)]


def test_refusals_are_problems_and_audited(api: Setup) -> None:
    with api.server.client(api.trigger) as client:
        is_problem(client.post("/api/v1/tasks/nope/runs", json={}), 404)
        is_problem(client.post("/admin/scheduler/trigger", json={"taskName": "quik"}), 404)
        is_problem(client.post("/api/v1/tasks/quick/runs", json={"params": {"a": [1, 2]}}), 422)
        is_problem(client.post("/api/v1/tasks/quick/runs", json={"date": "2026-02-30"}), 422)
        is_problem(client.post("/api/v1/tasks/quick/runs", json={"dry_run": "yes"}), 422)
        is_problem(client.post("/api/v1/tasks/quick/runs", json={"surprise": 1}), 422)
        is_problem(client.post("/api/v1/tasks/quick/runs", content=b"{not json"), 400)
        is_problem(client.post("/api/v1/tasks/quick/runs", content=b"x" * (64 * 1024)), 413)
    with api.server.client(api.read) as reader:
        is_problem(reader.post("/api/v1/tasks/quick/runs", json={}), 403)
    with api.server.client() as anon:
        is_problem(anon.post("/admin/scheduler/trigger", json={"taskName": "quick"}), 401)
    results = {r[0] for r in api.sql("SELECT result FROM audit WHERE action = 'trigger'")}
    assert {"unknown_task", "invalid", "too_large", "forbidden", "unauthorized"} <= results


def test_a_body_too_large_is_audited_with_its_valid_token(api: Setup) -> None:
    with api.server.client(api.trigger) as client:
        is_problem(client.post("/api/v1/tasks/quick/runs", content=b"x" * (64 * 1024)), 413)
    with api.server.client("ck_000000000000_" + "x" * 43) as stranger:  # unknown: 401, its body unread
        is_problem(stranger.post("/api/v1/tasks/quick/runs", content=b"x" * (64 * 1024)), 401)
    rows = api.sql("SELECT token_name, result, status_code FROM audit WHERE action = 'trigger'"
                   " AND status_code IN (401, 413) ORDER BY id DESC LIMIT 2")
    assert rows == [(None, "unauthorized", 401), ("deployer", "too_large", 413)]


def test_bad_query_values_are_422_like_limit_and_since(api: Setup) -> None:
    with api.server.client(api.read) as client:
        for path in ("/api/v1/dead-letters?all=maybe", "/api/v1/dead-letters?all=2", "/api/v1/runs?trigger=cronn",
                     "/api/v1/runs?status=FAILED"):
            assert is_problem(client.get(path), 422)["type"].endswith("/invalid-query"), path
        assert is_problem(client.get("/api/v1/dead-letters?all=maybe"), 422)["detail"] == \
            "all: 'maybe' is not true or false"
        for value in ("true", "false", "1", "0", "yes", "no", "TRUE", ""):
            assert client.get(f"/api/v1/dead-letters?all={value}").status_code == 200, value
        for path in ("/api/v1/runs?task=quik", "/api/v1/dead-letters?task=quik&all=true"):
            typo = is_problem(client.get(path), 422)  # a typo, as `history` and `dlq list` say
            assert typo["detail"] == "task: unknown task 'quik'; did you mean quick?" and typo["suggestions"] == ["quick"]
        assert client.get("/api/v1/runs?task=slow&status=lost").json()["runs"] == []  # registered: no runs is fine
        assert client.get("/api/v1/dead-letters?task=slow").json() == []


def test_a_token_glob_that_is_broken_is_a_usage_error(api: Setup) -> None:
    for glob, why in (("[", "the '[' at character 1 is never closed (a set is written [abc], [a-z] or [!abc])"),
                      ("daily-[0-9", "the '[' at character 7 is never closed (a set is written [abc], [a-z] or [!abc])"),
                      ("Daily-*", "'D' is in no task name (a-z, 0-9 and '-'; globs add *, ? and [set]), "
                                  "so this would match no task"),
                      ("daily-*]", "']' is in no task name (a-z, 0-9 and '-'; globs add *, ? and [set]), "
                                   "so this would match no task")):
        made = api.cli("token", "create", "y", "--scope", "trigger", "--task", glob)
        assert (made.returncode, made.stdout) == (2, ""), made.stderr
        assert made.stderr == f"cronkit: error: --task {glob!r}: {why}\n"
    assert api.sql("SELECT count(*) FROM api_tokens WHERE name = 'y'") == [(0,)]
    for n, glob in enumerate(("[qs]*", "nightly-*", "[!x]uick", "?uick")):  # nightly-* matches no task yet
        assert api.cli("token", "create", f"glob-{n}", "--scope", "trigger", "--task", glob).returncode == 0


def test_params_the_task_does_not_take_are_422_and_start_nothing(api: Setup) -> None:
    before = api.sql("SELECT count(*) FROM runs WHERE task = 'slow'")[0][0]
    with api.server.client(api.trigger) as client:
        for body, says in (({"params": {"seconds": "garbage"}}, "params.seconds: 'garbage' is not a number"),
                           ({"params": {"seconds": "99"}}, "params.seconds: 99 is above 30"),
                           ({"params": {"sleep": "1"}}, "slow: unknown param 'sleep' (known: seconds)"),
                           ({"date": "2020-01-01"}, "slow: takes no date")):
            refused = is_problem(client.post("/api/v1/tasks/slow/runs", json=body), 422)
            assert refused["type"].endswith("/invalid-params") and refused["detail"] == says, refused
        seed = is_problem(client.post("/admin/scheduler/trigger", json={"taskName": "slow", "params": {"seconds": "x"}}), 422)
        assert seed["detail"] == "params.seconds: 'x' is not a number"
    assert api.sql("SELECT count(*) FROM runs WHERE task = 'slow'")[0][0] == before
    audited = api.sql("SELECT result, status_code FROM audit WHERE task = 'slow' ORDER BY id DESC LIMIT 5")
    assert audited == [("invalid", 422)] * 5


def test_a_token_limited_to_some_tasks(api: Setup) -> None:
    token = make_token(api.env, api.root, "quick-only", "trigger", "--task", "qu*")
    with api.server.client(token) as client:
        refused = is_problem(client.post("/api/v1/tasks/slow/runs", json={}), 403)
        assert refused["type"].endswith("/task-not-allowed")
        ok = client.post("/api/v1/tasks/quick/runs", json={})
        assert ok.status_code == 202
        wait_run(client, ok.json()["run_id"])


@pytest.mark.slow
def test_a_revoked_token_is_refused(api: Setup) -> None:
    token = make_token(api.env, api.root, "temp", "read")
    with api.server.client(token) as client:
        assert client.get("/api/v1/tasks").status_code == 200
        revoked = api.cli("token", "revoke", "temp")
        assert revoked.returncode == 0 and revoked.stdout == "token temp revoked\n"
        time.sleep(TOKEN_RECHECK + 0.1)  # a verdict is reused that long (cronkit/web/app.py): no longer
        assert is_problem(client.get("/api/v1/tasks"), 401)["type"].endswith("/token-invalid")
    listed = {t["name"]: t for t in json.loads(api.cli("token", "list", "--json").stdout)}
    assert listed["temp"]["active"] is False and listed["grafana"]["active"] is True
    assert all("token" not in t and "hash" not in json.dumps(t) for t in listed.values())
    audited = {r["action"]: r for r in json.loads(api.cli("audit", "--json").stdout)}
    assert "token.revoke" in audited and "token.create" in audited
    # The audit names the token it created or revoked: a name is no secret to redact.
    assert audited["token.revoke"]["detail"] == "name temp"
    assert api.cli("token", "create", "dashboards", "--scope", "read").returncode == 0
    created = [r for r in json.loads(api.cli("audit", "--json").stdout) if r["action"] == "token.create"]
    assert "name dashboards, role viewer" in [r["detail"] for r in created]  # was "token ***: scope read"
    assert api.cli("token", "revoke", "temp").returncode == 2  # nothing active by that name


def test_metrics_agree_with_the_run_log(api: Setup) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    for _ in range(2):
        assert api.cli("run", "broken").returncode == 1
    assert api.cli("run", "quick").returncode == 0
    with api.server.client(api.read) as client:
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expected = {
        "cronkit_task_info", "cronkit_task_last_run_timestamp_seconds", "cronkit_task_last_success_timestamp_seconds",
        "cronkit_task_last_failure_timestamp_seconds", "cronkit_task_next_run_timestamp_seconds",
        "cronkit_task_runs", "cronkit_task_run_duration_seconds", "cronkit_task_running",
        "cronkit_task_missed_slots", "cronkit_dead_letters_open", "cronkit_crontab_drift", "cronkit_build_info",
    }
    assert expected <= set(families)

    def samples(name: str, sample: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples
                if s.name == (sample or name)}

    totals = samples("cronkit_task_runs", "cronkit_task_runs_total")
    in_log = api.sql("SELECT task, status, count(*) FROM runs WHERE status <> 'running' GROUP BY task, status")
    # Every final status of every task is exported, at 0 when no run ended in it (SPEC 19).
    finals = ("succeeded", "failed", "timed_out", "interrupted", "skipped", "lost")
    expected_totals = {(("status", s), ("task", t)): 0.0 for s in finals for t in ("quick", "slow", "leaky", "broken")}
    expected_totals.update({(("status", s), ("task", t)): float(n) for t, s, n in in_log})
    assert totals == expected_totals
    ok = api.sql("SELECT finished_at FROM runs WHERE task = 'quick' AND status = 'succeeded' ORDER BY id DESC LIMIT 1")
    assert samples("cronkit_task_last_success_timestamp_seconds")[(("task", "quick"),)] == ok[0][0] / 1000
    bad = api.sql("SELECT max(finished_at) FROM runs WHERE task = 'broken' AND status = 'failed'")
    assert samples("cronkit_task_last_failure_timestamp_seconds")[(("task", "broken"),)] == bad[0][0] / 1000
    letters = api.sql("SELECT count(*) FROM dead_letters WHERE task = 'broken' AND resolved_at IS NULL")
    assert samples("cronkit_dead_letters_open")[(("task", "broken"),)] == letters[0][0]
    executed = api.sql("SELECT count(*), sum(duration_ms) FROM runs WHERE task = 'quick' AND status IN"
                       " ('succeeded', 'failed', 'timed_out', 'interrupted') AND duration_ms IS NOT NULL")
    assert samples("cronkit_task_run_duration_seconds", "cronkit_task_run_duration_seconds_count")[
        (("task", "quick"),)] == executed[0][0]
    assert samples("cronkit_task_run_duration_seconds", "cronkit_task_run_duration_seconds_sum")[
        (("task", "quick"),)] == pytest.approx(executed[0][1] / 1000)
    info = samples("cronkit_task_info")
    assert (("schedule", "0 3 * * *"), ("task", "quick"), ("timezone", "UTC")) in info
    # The task label is bounded by the registry: nothing but its four tasks.
    assert {dict(k)["task"] for k in samples("cronkit_task_running")} == {"quick", "slow", "leaky", "broken"}


def test_a_secret_printed_by_a_task_is_in_no_answer(api: Setup) -> None:
    with api.server.client(api.admin) as client:
        started = client.post("/api/v1/tasks/leaky/runs", json={"params": {"note": "hello"}})
        assert started.status_code == 202
        run = wait_run(client, started.json()["run_id"])
        assert run["status"] == "failed" and run["output"] and "the secret is" in run["output"]
        bodies = [client.get(path).text for path in (
            f"/api/v1/runs/{run['id']}", "/api/v1/runs?limit=500", "/api/v1/dead-letters", "/api/v1/audit?limit=500",
            "/api/v1/status", "/api/v1/tasks", "/api/v1/tasks/leaky", "/metrics", "/health/deep")]
    assert all(SECRET_VALUE not in body for body in bodies)
    assert all(SECRET_VALUE not in body for body in (api.server.log.read_text(),))


def test_runs_paginate_newest_first_and_stay_stable_under_inserts(api: Setup) -> None:
    for _ in range(3):
        assert api.cli("run", "quick").returncode == 0
    with api.server.client(api.read) as client:
        first = client.get("/api/v1/runs", params={"task": "quick", "limit": 2}).json()
        ids = [r["id"] for r in first["runs"]]
        assert ids == sorted(ids, reverse=True) and first["next_cursor"]
        assert api.cli("run", "quick").returncode == 0  # a newer run arrives between two pages
        second = client.get("/api/v1/runs", params={"task": "quick", "limit": 2, "cursor": first["next_cursor"]}).json()
        assert all(r["id"] < ids[-1] for r in second["runs"])
        everything = client.get("/api/v1/runs", params={"task": "quick", "limit": 500}).json()["runs"]
        expected = [i for i in (r["id"] for r in everything) if i < ids[-1]][:2]
        assert [r["id"] for r in second["runs"]] == expected
        api_only = client.get("/api/v1/runs", params={"trigger": "api", "limit": 500}).json()["runs"]
        assert api_only and all(r["trigger"] == "api" for r in api_only)


def test_cached_answers_follow_the_run_log(api: Setup) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def quick_succeeded(text: str) -> float:
        return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                    if s.name == "cronkit_task_runs_total" and s.labels == {"task": "quick", "status": "succeeded"})

    assert api.cli("run", "quick").returncode == 0
    with api.server.client(api.read) as client:
        page = client.get("/api/v1/runs", params={"task": "quick", "limit": 1}).json()["runs"]
        scraped = quick_succeeded(client.get("/metrics").text)
        assert client.get("/api/v1/runs", params={"task": "quick", "limit": 1}).json()["runs"] == page
        assert api.cli("run", "quick").returncode == 0  # another process commits a run
        newer = client.get("/api/v1/runs", params={"task": "quick", "limit": 1}).json()["runs"]
        assert newer[0]["id"] > page[0]["id"] and newer[0]["status"] == "succeeded"
        assert quick_succeeded(client.get("/metrics").text) == scraped + 1


def test_refuses_a_public_address_without_a_token(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    proc = subprocess.run([CRONKIT, "serve", "--host", "0.0.0.0", "--port", str(free_port())], env=cronkit_env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 78
    assert proc.stderr.startswith("cronkit: error: serve: refusing to listen on 0.0.0.0 with no API token")


def test_a_port_in_use_is_one_line_and_exit_69(api: Setup, tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:  # a plain listener holds the port
        port = busy.getsockname()[1]
        proc = subprocess.run([CRONKIT, "serve", "--port", str(port)], env=cronkit_env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (69, "")
    assert proc.stderr == f"cronkit: error: serve: cannot listen on 127.0.0.1:{port}: address already in use\n"
    # a second `cronkit serve` on the port of one that runs: the same line, and the first one goes on
    proc = subprocess.run([CRONKIT, "serve", "--port", str(api.server.port)], env=api.env, cwd=api.root,
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (69, "")
    assert proc.stderr == (f"cronkit: error: serve: cannot listen on 127.0.0.1:{api.server.port}:"
                           " address already in use\n")
    with api.server.client() as anon:
        assert anon.get("/healthz").json() == {"ok": True}


@pytest.mark.slow
def test_sigterm_stops_gracefully_and_runs_it_started_go_on(tmp_path: Path, cronkit_env: dict[str, str]) -> None:
    env = server_env(cronkit_env, write_registry(tmp_path / "term_tasks.py", REGISTRY))
    token = make_token(env, tmp_path, "t", "trigger")
    server = Server(env, tmp_path, ("--log-level", "info"))
    with server.client(token) as client:
        run_id = client.post("/api/v1/tasks/slow/runs", json={"params": {"seconds": "2"}}).json()["run_id"]
    code = server.stop()
    assert f"Uvicorn running on http://127.0.0.1:{server.port} (Press CTRL+C" in server.log.read_text()
    assert code in (0, -15, 143), server.log.read_text()
    assert "Traceback" not in server.log.read_text()
    for _ in range(150):
        shown = json.loads(cli(env, tmp_path, "show", str(run_id), "--json").stdout)
        if shown["status"] != "running":
            break
        import time

        time.sleep(0.2)
    assert shown["status"] == "succeeded" and shown["trigger"] == "api"


def test_run_refuses_to_adopt_what_is_not_an_api_run(run_cli: RunCli, tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "adopt_tasks.py", REGISTRY)
    proc = run_cli("--tasks", str(registry), "run", "quick", "--trigger", "api", "--run-id", "41")
    assert proc.returncode == 2
    assert proc.stderr == "cronkit: error: --run-id: no running api run 41 of quick to adopt\n"


def test_the_run_path_does_not_import_the_http_stack(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    registry = write_registry(tmp_path / "lean_tasks.py", REGISTRY)
    code = ("import sys; from cronkit.main import main\n"
            "try:\n    main(['--tasks', sys.argv[1], 'run', 'quick'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('starlette', 'uvicorn', 'prometheus_client', 'httpx', 'anyio') or m.startswith('cronkit.web')))")
    proc = subprocess.run([sys.executable, "-c", code, str(registry)], env=cronkit_env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert "quick succeeded" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr
