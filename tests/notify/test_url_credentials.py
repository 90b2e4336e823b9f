"""A notifier URL with `user:password@`: sent as HTTP Basic auth to the real host, and never shown."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_registry
from tests.fixturetypes import Run, WriteConfig
from tests.notify.conftest import notifications, runs
from tests.notify.receivers import HttpReceiver, basic

USER = "cronkit"
PASSWORD = "s3cr@t-hook-pw"  # written %40 in the URL, as RFC 3986 asks
IN_URL = "s3cr%40t-hook-pw"
WRONG, WRONG_IN_URL = "wr@ng-hook-pw", "wr%40ng-hook-pw"
PIECES = (PASSWORD, IN_URL, "t-hook-pw", basic(USER, PASSWORD).split()[1], WRONG, WRONG_IN_URL, "ng-hook-pw",
          basic(USER, WRONG).split()[1])

TASKS = '''
@registry.task("* * * * *", name="say", environments=["*"], timeout="20s")
def say(ctx):
    """Print the hook's password (a task may know it, decoded), fail when --param fail=1."""
    print("hook password is", os.environ["HOOK_PW"])
    if ctx.params.get("fail") == "1":
        raise RuntimeError("boom")
'''


def with_credentials(http: HttpReceiver, password: str, path: str) -> str:
    return f"http://{USER}:{password}@127.0.0.1:{http.port}{path}"


def hooks(http: HttpReceiver, password: str) -> str:
    return f"""
[notify]
default = ["hook", "hc"]

[notify.hook]
kind = "webhook"
url = "{with_credentials(http, password, '/hook')}"
on = ["failure", "recovery"]
timeout = "2s"

[notify.hc]
kind = "healthchecks"
url = "{with_credentials(http, password, '/ping/abc')}"
timeout = "2s"
"""


def assert_nowhere(texts: list[str], root: Path) -> None:
    """No piece of a password in any text, nor in any file under root (the run log, logs, metrics)."""
    for text in texts:
        for piece in PIECES:
            assert piece not in text, text
    for path in (p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for piece in PIECES:
            assert piece.encode() not in data, path


def test_notify_test_sends_basic_auth_to_the_real_host(run: Run, config: WriteConfig, http: HttpReceiver) -> None:
    http.basic = (USER, PASSWORD)
    config(hooks(http, IN_URL))
    done = run("notify", "test", "hook")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hook: sent a test webhook notification\n", "")
    (request,) = http.requests
    assert request.path == "/hook" and request.headers["Authorization"] == basic(USER, PASSWORD)
    assert json.loads(request.body)["event"] == "test"


def test_wrong_password_is_one_clear_line_and_the_password_is_nowhere(
    run: Run, config: WriteConfig, http: HttpReceiver, notify_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    notify_env.update({"CRONKIT_TASKS": str(write_registry(tmp_path / "say_tasks.py", TASKS)), "HOOK_PW": WRONG})
    http.basic = (USER, PASSWORD)
    config(hooks(http, WRONG_IN_URL))
    outputs = []
    refused = run("notify", "test", "hook")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == (f"cronkit: error: hook: HTTP 401 from http://127.0.0.1:{http.port}"
                              " (it refused the user and password of the URL)\n")
    assert run("run", "say", "--param", "fail=1").returncode == 1
    pending = notifications(home)
    # The start ping that could not go before the run ended is left unsent: with its end it would
    # show the check a run of a few milliseconds.
    assert [(n["notifier"], n["event"], n["state"]) for n in pending if n["notifier"] == "hc"] == [
        ("hc", "start", "superseded"), ("hc", "failure", "pending")]
    assert {(n["notifier"], n["state"]) for n in pending if n["notifier"] == "hook"} == {("hook", "pending")}
    tried = [n for n in pending if n["tries"] and n["state"] == "pending"]  # a notifier's later rows wait behind its failed one
    assert {n["notifier"] for n in tried} == {"hook", "hc"}
    assert all(n["last_error"].startswith(f"HTTP 401 from http://127.0.0.1:{http.port}") for n in tried)
    assert runs(home)[0]["output"] == "hook password is ***\n"  # the task printed it: stored masked
    outputs += [run("notify", "log").stdout, run("notify", "log", "--json").stdout, run("check", "--json").stdout]

    config(hooks(http, IN_URL))  # the right password: the outbox goes out, to the real host, with it
    assert run("check").returncode == 0
    assert [n["state"] for n in notifications(home)] == [
        "superseded" if n["event"] == "start" else "delivered" for n in pending]
    good = [r for r in http.requests if r.headers.get("Authorization") == basic(USER, PASSWORD)]
    assert sorted(r.path.split("?")[0] for r in good) == ["/hook", "/ping/abc/1"]
    assert_nowhere(outputs + [r.body.decode() for r in http.requests], home)


def test_a_bad_url_is_shown_masked(run: Run, config: WriteConfig, http: HttpReceiver) -> None:
    for url, complaint in ((f"ftp://{USER}:{IN_URL}@127.0.0.1/x", "is not an http:// or https:// URL"),
                           (f"http://{USER}:{IN_URL}@127.0.0.1:99999/x", "the port is not a number from 1 to 65535"),
                           (f"http://{USER}:{IN_URL}@/x", "has no host")):
        config(f'[notify.hook]\nkind = "webhook"\nurl = "{url}"\n')
        done = run("notify", "test", "hook")
        assert done.returncode == 78 and done.stderr.endswith(f"{complaint}\n"), done.stderr
        assert f"{USER}:***@" in done.stderr and len(done.stderr.splitlines()) == 1
        assert_nowhere([done.stdout, done.stderr], Path("/nonexistent"))
