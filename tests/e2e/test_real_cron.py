"""End to end with the real cron daemon: every scenario of tests/e2e/realcron in one minute of cron.

Each scenario installs for cron's next minute and waits for it. Run side by side (a thread each),
they wait for the same minute, and hold one pytest-xdist worker instead of one each: the rest of
the suite runs on the others meanwhile. A failure names its scenario; several are reported together.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.realcron import adopt, autosync, cron_daemon, need_cron_as_root, registry

SCENARIOS: dict[str, Callable[[dict[str, str], Path], None]] = {
    "registry": registry.cron_runs_a_users_registry_catches_up_and_reports_a_start_failure,
    "adopt": adopt.cron_runs_an_adopted_crontab_through_cronkit_and_undo_restores_its_bytes,
    "autosync": autosync.cron_check_line_syncs_the_block_after_a_deploy,
}


@pytest.mark.slow
@pytest.mark.cron
def test_the_real_cron_daemon_runs_every_scenario_in_one_minute(cronkit_env: dict[str, str], tmp_path: Path) -> None:
    need_cron_as_root()
    failures: list[BaseException] = []

    def run(name: str, scenario: Callable[[dict[str, str], Path], None]) -> None:
        folder = tmp_path / name
        folder.mkdir()
        try:
            scenario(dict(cronkit_env), folder)
        except BaseException as exc:  # noqa: BLE001 - pytest.fail's Failed too: reported below, by scenario
            exc.add_note(f"(the {name} scenario: {scenario.__module__}.{scenario.__name__})")
            failures.append(exc)

    with cron_daemon():
        threads = [threading.Thread(target=run, args=item, name=f"realcron-{item[0]}") for item in SCENARIOS.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise BaseExceptionGroup("real-cron scenarios failed", failures)
