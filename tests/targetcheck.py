"""Check what the other schedulers' renderers write with those schedulers' own tools."""

from __future__ import annotations

import shutil
from typing import Any

from tests.conftest import need

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def need_systemd_analyze() -> str:
    if SYSTEMD_ANALYZE is None:
        need("systemd-analyze", "apt-get install systemd")
    assert SYSTEMD_ANALYZE is not None
    return SYSTEMD_ANALYZE


def validate(document: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(document, "1.30.0", strict=True)
