"""One CloudWatch Embedded Metric Format line per run, appended to `emf_file` for the CloudWatch agent.

Shape (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a JSON object whose `_aws` member holds `Timestamp` (epoch ms) and `CloudWatchMetrics`, a list of
{Namespace, Dimensions: [[dimension names]], Metrics: [{Name, Unit}]}; every dimension and metric
named there is a top-level member of the object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

NAMESPACE = "cronkit"


def line(task: str, run_id: int, status: str, duration_ms: int | None, host: str, at_ms: int) -> str:
    """Return the EMF JSON line of one finished run."""
    doc: dict[str, Any] = {
        "_aws": {"Timestamp": at_ms, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE,
            "Dimensions": [["task"]],
            "Metrics": [{"Name": "Duration", "Unit": "Milliseconds"}, {"Name": "Succeeded", "Unit": "Count"},
                        {"Name": "Failed", "Unit": "Count"}],
        }]},
        "task": task, "host": host, "run_id": run_id, "status": status,
        "Duration": duration_ms or 0,
        "Succeeded": 1 if status == "succeeded" else 0,
        "Failed": 1 if status in ("failed", "timed_out", "lost") else 0,
    }
    return json.dumps(doc, separators=(",", ":"))


def append(path: Path, text: str) -> None:
    """Append one line with a single write (O_APPEND: concurrent runs do not interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (text + "\n").encode())
    finally:
        os.close(fd)


__all__ = ["NAMESPACE", "append", "line"]
