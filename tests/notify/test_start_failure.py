"""A cron start that cannot start (the registry no longer imports, the settings are invalid) tells the
failure notifiers at once, from the failing start itself, once per cause, with the error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_registry
from tests.fixturetypes import Run
from tests.notify.conftest import TASKS
from tests.notify.receivers import HttpReceiver, SmtpReceiver

PUBLIC = "https://cronkit.example"


def block_config(home: Path, registry: Path, http: HttpReceiver, smtp: SmtpReceiver, env: dict[str, str],
                 extra: str = "") -> Path:
    """Write the run settings file install writes for a block (`<home>/cron/<block>.toml`), which
    names the registry: cron's environment has no CRONKIT_TASKS (nor CRONKIT_CONFIG)."""
    env.pop("CRONKIT_TASKS")
    env.pop("CRONKIT_CONFIG")
    path = home / "cron" / "app.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"""{extra}home = "{home}"
registry = "{registry}"
public_url = "{PUBLIC}"

[notify]
default = ["hook", "mail"]

[notify.hook]
kind = "webhook"
url = "{http.url('/hook')}"
on = ["failure", "recovery"]
failures_before_alert = 3

[notify.mail]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
from = "cronkit@example.com"
to = ["ops@example.com"]
""")
    return path


def test_a_start_that_fails_is_told_once_per_cause(run: Run, http: HttpReceiver, smtp: SmtpReceiver, home: Path, tmp_path: Path,
                                                    notify_env: dict[str, str]) -> None:
    registry = write_registry(tmp_path / "app_tasks.py", TASKS)
    good = registry.read_text()
    config = block_config(home, registry, http, smtp, notify_env)

    def cron(task: str = "flip") -> int:
        return int(run("--config", str(config), "run", task, "--trigger", "cron").returncode)

    def hooks() -> list[dict[str, object]]:
        return [json.loads(r.body) for r in http.requests if r.path == "/hook"]

    registry.write_text(good + "def broken(:\n")
    assert cron() == 78
    [told] = hooks()
    assert (told["event"], told["task"], told["run_id"], told["status"], told["trigger"], told["exit_code"]) == (
        "failure", "flip", None, "failed", "cron", 78)
    error = str(told["error"])
    assert error.startswith("cron start failed: ") and "failed to import: SyntaxError" in error
    assert told["url"] == f"{PUBLIC}/tasks/flip"  # the dashboard's page, not the token-protected API
    [mail] = smtp.messages
    assert str(mail["Subject"]).startswith("[cronkit] flip failed on ") and str(mail["Subject"]).endswith("(exit 78)")
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes) and "failed to import: SyntaxError" in body.decode()

    # The same cause again, from this line or another of the block: already told (failures_before_alert
    # is about runs; a start that cannot start is told at the first).
    assert cron() == 78 and cron("other-line") == 78
    assert len(hooks()) == 1 and len(smtp.messages) == 1

    registry.write_text("import no_such_module_for_cronkit_tests\n" + good)  # another cause: told
    assert cron() == 78
    assert len(hooks()) == 2 and "No module named 'no_such_module_for_cronkit_tests'" in str(hooks()[1]["error"])

    registry.write_text(good)  # fixed: the start clears the record and what was told
    assert cron() == 0
    registry.write_text(good + "def broken(:\n")  # the first cause is news again
    assert cron() == 78
    assert len(hooks()) == 3 and "SyntaxError" in str(hooks()[2]["error"])
    assert len(smtp.messages) == 3


def test_invalid_settings_still_reach_the_notifiers_their_file_names(run: Run, http: HttpReceiver, smtp: SmtpReceiver, home: Path,
                                                                    tmp_path: Path, notify_env: dict[str, str]) -> None:
    registry = write_registry(tmp_path / "app_tasks.py", TASKS)
    config = block_config(home, registry, http, smtp, notify_env, extra="retention_dayz = 3\n")
    done = run("--config", str(config), "run", "flip", "--trigger", "cron")
    assert done.returncode == 78
    [told] = [json.loads(r.body) for r in http.requests]
    assert told["event"] == "failure" and told["task"] == "flip" and "retention_dayz" in str(told["error"])
    assert len(smtp.messages) == 1
