"""Roles (SPEC section 18) through real HTTP calls to a real `cronkit serve`: every role x action x
task inside or outside the token's glob, environment limits, token management, and the audit row
of every refusal. The matrix is written to test-artifacts/roles-matrix.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .serverkit import Setup, make_token, wait_run

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("viewer", "operator", "admin")
# action: (method, path, json body); "{t}" is the task, inside (quick) or outside (broken) the glob.
ACTIONS = {
    "list tasks": ("GET", "/api/v1/tasks", None),
    "read task": ("GET", "/api/v1/tasks/{t}", None),
    "list runs": ("GET", "/api/v1/runs?task={t}", None),
    "read run": ("GET", "/api/v1/runs/{run}", None),
    "dead letters": ("GET", "/api/v1/dead-letters?task={t}", None),
    "metrics": ("GET", "/metrics", None),
    "trigger": ("POST", "/api/v1/tasks/{t}/runs", {"dry_run": True}),
    "audit": ("GET", "/api/v1/audit", None),
    "tokens": ("GET", "/api/v1/tokens", None),
}


def expected(role: str, limited: bool, action: str, inside: bool) -> int:
    """What SPEC 18 says each combination answers."""
    if action in ("audit", "tokens"):
        return 200 if role == "admin" and not limited else 403
    if action == "trigger":
        if role == "viewer":
            return 403
        return 202 if inside or not limited else 403
    if action in ("read task", "list runs", "dead letters", "read run"):
        return 200 if inside or not limited else 404
    return 200  # lists and metrics: answered, without the tasks outside the glob


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    setup = Setup(tmp_path_factory.mktemp("roles"))
    for task in ("quick", "broken"):
        setup.cli("run", task)
    yield setup
    setup.server.stop()


def _tokens(setup: Setup) -> dict[tuple[str, bool], str]:
    made = {}
    for role in ROLES:
        made[(role, False)] = make_token(setup.env, setup.root, f"{role}-all", role)
        made[(role, True)] = make_token(setup.env, setup.root, f"{role}-q", role, "--task", "q*", "--task", "zz-*")
    return made


def _run_of(setup: Setup, task: str) -> int:
    return int(setup.sql("SELECT max(id) FROM runs WHERE task = ?", task)[0][0])


def test_every_role_action_and_glob(setup: Setup) -> None:
    tokens = _tokens(setup)
    rows = ["| role | limited to q* | action | task quick (inside) | task broken (outside) |", "|---|---|---|---|---|"]
    for (role, limited), token in tokens.items():
        with setup.server.client(token) as client:
            for action, (method, path, body) in ACTIONS.items():
                got = []
                for task, inside in (("quick", True), ("broken", False)):
                    url = path.format(t=task, run=_run_of(setup, task))
                    answer = client.request(method, url, json=body)
                    want = expected(role, limited, action, inside)
                    assert answer.status_code == want, (role, limited, action, task, answer.text[:300])
                    got.append(str(answer.status_code))
                    if answer.status_code == 202:  # a singleton: the next trigger waits for this run's end
                        wait_run(client, answer.json()["run_id"])
                    _check_absence(answer, action, limited, inside)
                rows.append(f"| {role} | {'yes' if limited else 'no'} | {action} | {got[0]} | {got[1]} |")
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "roles-matrix.md").write_text("\n".join(rows) + "\n")
    # Every refusal is an audit row, with the token that was refused.
    refused = setup.sql("SELECT token_name, status_code FROM audit WHERE status_code = 403")
    assert {name for name, _ in refused} >= {"viewer-all", "viewer-q", "operator-all", "operator-q", "admin-q"}


def _check_absence(answer: httpx.Response, action: str, limited: bool, inside: bool) -> None:
    """A limited token's answers hold none of the tasks outside its glob."""
    if not limited or answer.status_code >= 300:
        return
    if action == "list tasks":
        assert [t["name"] for t in answer.json()] == ["quick"]
    if action == "metrics":
        assert 'task="broken"' not in answer.text and 'task="quick"' in answer.text
    if action == "list runs" and inside:
        assert {r["task"] for r in answer.json()["runs"]} == {"quick"}


def test_a_limited_token_lists_only_its_tasks_runs(setup: Setup) -> None:
    token = make_token(setup.env, setup.root, "viewer-runs", "viewer", "--task", "quick")
    with setup.server.client(token) as client:
        runs = client.get("/api/v1/runs").json()["runs"]
        assert runs and {r["task"] for r in runs} == {"quick"}
        status = client.get("/api/v1/status").json()
        assert [t["name"] for t in status["tasks"]] == ["quick"]


def test_an_environment_limit_refuses_everything_elsewhere(setup: Setup) -> None:
    token = make_token(setup.env, setup.root, "staging-ops", "operator", "--env", "staging")
    with setup.server.client(token) as client:
        refused = client.get("/api/v1/tasks")
        assert refused.status_code == 403
        assert "limited to environments staging; this service runs" in refused.json()["detail"]
        assert client.post("/api/v1/tasks/quick/runs", json={"dry_run": True}).status_code == 403


def test_an_admin_manages_tokens_through_the_api(setup: Setup) -> None:
    admin = make_token(setup.env, setup.root, "root-admin", "admin")
    with setup.server.client(admin) as client:
        made = client.post("/api/v1/tokens", json={"name": "ci-bot", "role": "operator", "tasks": ["quick"]})
        assert made.status_code == 201, made.text
        new = made.json()
        assert (new["role"], new["tasks"], new["environments"]) == ("operator", ["quick"], [])
        listed = {t["name"]: t for t in client.get("/api/v1/tokens").json()["tokens"]}
        assert listed["ci-bot"]["role"] == "operator" and "token" not in listed["ci-bot"]
        assert client.post("/api/v1/tokens", json={"name": "ci-bot", "role": "operator"}).status_code == 409
        assert client.post("/api/v1/tokens", json={"name": "x", "role": "god"}).status_code == 422
    with setup.server.client(new["token"]) as bot:
        assert bot.post("/api/v1/tasks/quick/runs", json={"dry_run": True}).status_code == 202
    with setup.server.client(admin) as client:
        assert client.delete("/api/v1/tokens/ci-bot").status_code == 204
        assert client.delete("/api/v1/tokens/ci-bot").status_code == 404
    rows = setup.sql("SELECT action, token_name, detail FROM audit WHERE action LIKE 'token.%' AND token_name = 'root-admin'")
    assert ("token.create", "root-admin", "name ci-bot, role operator, tasks quick") in rows
    assert ("token.revoke", "root-admin", "name ci-bot") in rows


def test_old_scopes_are_aliases_of_the_roles(setup: Setup) -> None:
    done = setup.cli("token", "create", "legacy", "--scope", "trigger", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["role"] == "operator"
    both = setup.cli("token", "create", "both", "--scope", "read", "--role", "viewer")
    assert both.returncode == 2 and "give one of --role" in both.stderr


def test_a_limited_token_reads_no_other_task_in_status_or_health(setup: Setup) -> None:
    token = make_token(setup.env, setup.root, "viewer-quick", "viewer", "--task", "quick")
    with setup.server.client(token) as client:
        status = client.get("/api/v1/status").json()
        text = json.dumps(status)
        assert [t["name"] for t in status["tasks"]] == ["quick"]
        assert '"broken"' not in text and '"leaky"' not in text
        deep = client.get("/health/deep").json()
        assert not any("broken" in reason or "leaky" in reason for reason in deep["reasons"])
        assert "broken" not in json.dumps(deep["components"])
    with setup.server.client(setup.admin) as client:  # a token without limits reads them all
        assert any("broken" in reason for reason in client.get("/health/deep").json()["reasons"])
    refusals = setup.sql("SELECT token_name, status_code FROM audit WHERE result = 'not_visible'")
    # status and health leave the other tasks out: this token has been refused nothing yet (the
    # module's other tests, sharing the server, leave refusals of their own tokens, each a 404)
    assert [name for name, _ in refusals if name == "viewer-quick"] == []
    assert {code for _, code in refusals} <= {404}
    with setup.server.client(token) as client:
        assert client.get(f"/api/v1/runs/{_run_of(setup, 'broken')}").status_code == 404
    assert ("viewer-quick", 404) in setup.sql("SELECT token_name, status_code FROM audit WHERE result = 'not_visible'")
