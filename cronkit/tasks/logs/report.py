"""Count what the pass did and which paths it skipped; turn that into the run's result."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_REPORTED_PATHS = 50


@dataclass
class Report:
    """Counts and skipped paths; becomes the run's result."""

    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_files: list[dict[str, str]] = field(default_factory=list)

    def skip(self, rel: str, reason: str, detail: str = "") -> None:
        """Count a skipped path by reason; list the first MAX_REPORTED_PATHS of them."""
        self.skipped[reason] += 1
        if len(self.skipped_files) < MAX_REPORTED_PATHS:
            item = {"path": rel, "reason": reason}
            if detail:
                item["detail"] = detail
            self.skipped_files.append(item)


def report_dict(report: Report, log_dir: str) -> dict[str, Any]:
    """Return the run's result for the pass over `log_dir`."""
    c = report.counts
    result: dict[str, Any] = {
        "log_dir": log_dir,
        "dry_run": report.dry_run,
        "files_deleted": c["files_deleted"],
        "bytes_deleted": c["bytes_deleted"],
        "files_compressed": c["files_compressed"],
        "bytes_compressed": c["bytes_compressed"],
        "bytes_after_compression": c["bytes_after_compression"],
        "files_rotated": c["files_rotated"],
        "bytes_rotated": c["bytes_rotated"],
        "deleted_by_retention": c["deleted_retention"],
        "deleted_by_max_files": c["deleted_max_files"],
        "files_scanned": c["files_scanned"],
        "skipped": dict(sorted(report.skipped.items())),
        "skipped_files": report.skipped_files,
    }
    if c["log_dir_missing"]:
        result["log_dir_missing"] = True
    return result
