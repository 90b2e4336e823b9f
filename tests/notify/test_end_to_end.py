"""A task that fails three times, then succeeds: exactly the notifications the rules say, per channel."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cronkit.notify.webhook import verify
from tests.fixturetypes import Run, WriteConfig
from tests.notify.conftest import DB_PASSWORD, SECRET, TOKEN, notifications, runs
from tests.notify.receivers import HttpReceiver, SmtpReceiver


def test_three_failures_then_success(run: Run, config: WriteConfig, http: HttpReceiver, smtp: SmtpReceiver, home: Path) -> None:
    config(f"""
public_url = "https://cronkit.example"

[notify]
default = ["hook", "mail"]

[notify.hc]
kind = "healthchecks"
url = "{http.url('/ping/abc')}"

[notify.hook]
kind = "webhook"
url = "{http.url('/hook')}"
secret_env = "CRONKIT_WEBHOOK_SECRET"
on = ["failure", "recovery"]
failures_before_alert = 2

[notify.mail]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
from = "cronkit@example.com"
to = ["ops@example.com"]
on = ["failure", "recovery"]

[tasks.flip]
notify = ["hc", "hook", "mail"]
""")
    codes = [run("run", "flip", "--param", f"fail={f}").returncode for f in (1, 1, 1, 0)]
    assert codes == [1, 1, 1, 0]
    ids = [r["id"] for r in runs(home)]

    # healthchecks: every run pings /start then its exit code, paired by rid.
    pings = [(urlsplit(p).path, parse_qs(urlsplit(p).query)["rid"][0]) for p in http.paths("/ping/abc")]
    assert [p for p, _ in pings] == ["/ping/abc/start", "/ping/abc/1"] * 3 + ["/ping/abc/start", "/ping/abc/0"]
    rids = [rid for _, rid in pings]
    assert all(rids[i] == rids[i + 1] for i in range(0, 8, 2)) and len(set(rids)) == 4

    # webhook: failures_before_alert = 2, so the second failure alerts (not the third), then the recovery.
    hooks = [r for r in http.requests if r.path == "/hook"]
    bodies = [json.loads(r.body) for r in hooks]
    assert [(b["event"], b["run_id"]) for b in bodies] == [("failure", ids[1]), ("recovery", ids[3])]
    for request in hooks:
        assert verify(SECRET, request.headers["X-Cronkit-Signature"], request.body, now=time.time())
        assert not verify("wrong", request.headers["X-Cronkit-Signature"], request.body, now=time.time())
        assert not verify(SECRET, request.headers["X-Cronkit-Signature"], request.body, now=time.time() + 301)
    assert set(bodies[0]) == {"event", "task", "run_id", "status", "trigger", "host", "scheduled_for",
                              "started_at", "duration_ms", "exit_code", "error", "attempts", "url"}
    assert bodies[0]["status"] == "failed" and bodies[0]["exit_code"] == 1
    # the link a person opens: the dashboard's run page, not the API's token-protected JSON
    assert bodies[0]["url"] == f"https://cronkit.example/runs/{ids[1]}"

    # email: the first failure alerts, then the recovery.
    assert smtp.subjects()[0].startswith("[cronkit] flip failed on ") and smtp.subjects()[0].endswith("(exit 1)")
    assert smtp.subjects()[1].startswith("[cronkit] flip recovered on ")
    assert len(smtp.messages) == 2 and smtp.envelopes[0] == ("cronkit@example.com", ["ops@example.com"])
    body = smtp.messages[0].get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode().replace("\r\n", "\n")
    assert f"url:           https://cronkit.example/runs/{ids[0]}\n" in text

    # nothing secret left the host, on any channel
    sent = [r.body.decode() for r in http.requests] + [m.as_string() for m in smtp.messages]
    assert any("token is ***" in text for text in sent)  # the output tail did go out, redacted
    for text in sent:
        assert TOKEN not in text and DB_PASSWORD not in text and SECRET not in text
    assert all(n["state"] == "delivered" for n in notifications(home))
