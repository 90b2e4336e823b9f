"""The built-in tasks' tests run the built-in registry: `cronkit` subprocesses get CRONKIT_TASKS=cronkit.tasks
(no registry configured is an error, SPEC section 2)."""

from __future__ import annotations

import pytest

BUILT_IN = "cronkit.tasks"


@pytest.fixture
def cronkit_env(cronkit_env: dict[str, str]) -> dict[str, str]:
    """The shared environment, with the built-in registry named explicitly."""
    cronkit_env["CRONKIT_TASKS"] = BUILT_IN
    return cronkit_env
