"""Run the fault matrix (tests/faults/) and print scenario / promised / observed per test.

Every test in tests/faults/ starts its docstring with "Scenario: ..." and "Promise: ..."; this
script runs them with pytest (in this process, through a small plugin that records each
outcome) and prints one row per test function: its scenario, its promise, and what was observed
(held, with how many parametrized cases; BROKE with the first failure; skipped with why).

    .venv/bin/python bench/faults.py                 # the whole matrix
    .venv/bin/python bench/faults.py -k files_       # only some tests (any pytest option)
    .venv/bin/python bench/faults.py --markdown      # a Markdown table, for a report

Exit status: 0 when every promise held (skips allowed), 1 otherwise.
"""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ROOT / "tests" / "faults"


@dataclass
class Row:
    """One test function: its docstring's scenario and promise, and its cases' outcomes."""

    name: str
    scenario: str = ""
    promise: str = ""
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def observed(self) -> str:
        total = self.passed + len(self.failed) + len(self.skipped)
        if self.failed:
            return f"BROKE ({len(self.failed)} of {total} cases): {self.failed[0]}"
        if self.passed:
            more = f", {len(self.skipped)} skipped" if self.skipped else ""
            return f"held ({self.passed} case{'s' if self.passed != 1 else ''}{more})"
        return f"skipped: {self.skipped[0] if self.skipped else 'not run'}"


def _split_docstring(doc: str) -> tuple[str, str]:
    text = " ".join(doc.split())
    match = re.search(r"Scenario:\s*(.*?)\s*Promise:\s*(.*)", text)
    if not match:
        return text, "(no Promise: in the docstring)"
    return match.group(1), match.group(2)


class Recorder:
    """A pytest plugin: collect each test's docstring and each case's outcome."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def _row(self, item: Any) -> Row:
        name = f"{Path(str(item.path)).stem}::{item.originalname}"
        if name not in self.rows:
            scenario, promise = _split_docstring(getattr(item.function, "__doc__", None) or "")
            self.rows[name] = Row(name, scenario, promise)
        return self.rows[name]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: Any, call: Any) -> Any:
        outcome = yield
        report = outcome.get_result()
        row = self._row(item)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.passed:
                row.passed += 1
            elif report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                row.skipped.append(reason.removeprefix("Skipped: "))
            else:
                line = str(report.longrepr.reprcrash.message) if hasattr(report.longrepr, "reprcrash") else "failed"
                row.failed.append(f"{item.name}: {line.splitlines()[0][:160]}")


def print_matrix(rows: list[Row], markdown: bool) -> None:
    """Print the rows as aligned text blocks, or as a Markdown table."""
    if markdown:
        print("| test | scenario | promised | observed |")
        print("|---|---|---|---|")
        for row in rows:
            cells = [row.name, row.scenario, row.promise, row.observed]
            print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return
    for row in rows:
        print(row.name)
        for label, text in (("scenario", row.scenario), ("promised", row.promise), ("observed", row.observed)):
            wrapped = textwrap.wrap(text, 100) or [""]
            print(f"  {label:<9} {wrapped[0]}")
            for more in wrapped[1:]:
                print(f"  {'':<9} {more}")
        print()


def main(argv: list[str]) -> int:
    markdown = "--markdown" in argv
    args = [a for a in argv if a != "--markdown"]
    recorder = Recorder()
    code = pytest.main([str(FAULTS), "-q", "-p", "no:cacheprovider", "--no-header", "-rN", *args],
                       plugins=[recorder])
    rows = sorted(recorder.rows.values(), key=lambda r: r.name)
    print()
    print_matrix(rows, markdown)
    held = sum(1 for r in rows if r.passed and not r.failed)
    broke = sum(1 for r in rows if r.failed)
    skipped = len(rows) - held - broke
    print(f"{len(rows)} scenarios: {held} held, {broke} broke, {skipped} skipped")
    return 0 if broke == 0 and code in (0, 5) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
