"""Time the copy of a run's output to its task log with safe cuts against the copy with fixed cuts.

The copy redacts the output a piece (1 MiB) at a time. Before issue 25 it cut each piece at its
last line end, or at the piece's end in a longer line, which let a secret split by the cut through
(the "fixed cuts" baseline, reimplemented here as it was). Now every cut is moved outside the
secrets seen in a window 64 KiB past it (redactcut.PieceRedactor, through Capture.collect). The two
alternate on the same capture file, for two shapes of output: ordinary log lines (one in 50
names a token), and lines of 4 MiB. The script prints the median ratio per shape, and checks that the safe copy holds none of
the secrets planted astride every 1 MiB boundary (and says how many the fixed cuts let through).

    .venv/bin/python bench/redact_copy.py [--mib 32] [--rounds 5]

Target: ratio <= 1.5 for log lines, <= 2.5 for long lines.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cronkit.runner.capture import COPY_PIECE, Capture
from cronkit.safe.redact import Redactor

TARGETS = {"log lines": 1.5, "long lines": 2.5}
SECRET = "sk-live-" + "S3CR3T" * 6


def make_output(path: Path, mib: int, long_lines: bool) -> None:
    """Write `mib` MiB of output, a secret astride every 1 MiB boundary."""
    line = ("2026-12-07 12:00:00 INFO worker: processed batch 4711 of users in 35 ms, next cursor c9f2\n" * 49
            + "2026-12-07 12:00:00 INFO auth: refreshed the session token of user 42 (expires in 3600 s)\n")
    with open(path, "w") as fh:
        size = 0
        for boundary in range(COPY_PIECE, mib * COPY_PIECE + 1, COPY_PIECE):
            gap = boundary - size - len(SECRET) // 2 - 1
            if long_lines:
                chunk = "x" * (gap - 200) + " " + ("w" * 199)  # no line end before the boundary's line ends
                chunk = chunk[:gap]
            else:
                chunk = (line * (gap // len(line) + 1))[:gap - 1] + "\n"
            fh.write(chunk + " " + SECRET)
            size += len(chunk) + 1 + len(SECRET)
            if not long_lines or boundary % (4 * COPY_PIECE) == 0:
                fh.write("\n")
                size += 1
        fh.write("\n")


def fixed_cuts(redact: Redactor, path: Path, log: Path) -> None:
    """The pre-issue-25 copy: each 1 MiB piece cut at its last line end, or at its end."""
    with open(path, "rb") as raw, open(log, "w", encoding="utf-8") as out:
        carry = b""
        while True:
            chunk = raw.read(COPY_PIECE)
            piece = carry + chunk
            if not chunk:
                out.write(redact(piece.decode("utf-8", "replace")))
                return
            cut = piece.rfind(b"\n") + 1
            if cut == 0 and len(piece) < COPY_PIECE:
                carry = piece
                continue
            cut = cut or len(piece)
            out.write(redact(piece[:cut].decode("utf-8", "replace")))
            carry = piece[cut:]


def safe_cuts(redact: Redactor, path: Path, logs: Path) -> None:
    capture = Capture("bench", logs)
    capture.path = str(path)
    capture.collect(redact, logs, "--- run 1 ---\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    redact = Redactor([SECRET])
    failed = False
    with tempfile.TemporaryDirectory(prefix="cronkit-bench-") as tmp:
        for shape in TARGETS:
            output = Path(tmp) / f"{shape.replace(' ', '-')}.out"
            make_output(output, args.mib, shape == "long lines")
            ratios, olds, news = [], [], []
            for number in range(args.rounds):
                old_log, new_logs = Path(tmp) / f"old-{number}.log", Path(tmp) / f"new-{number}"
                began = time.perf_counter()
                fixed_cuts(redact, output, old_log)
                old = time.perf_counter() - began
                began = time.perf_counter()
                safe_cuts(redact, output, new_logs)
                new = time.perf_counter() - began
                olds.append(old)
                news.append(new)
                ratios.append(new / old)
            copied = (new_logs / "bench.log").read_text()
            leaked_new = copied.count("S3CR3T")
            leaked_old = old_log.read_text().count("S3CR3T")
            ratio = statistics.median(ratios)
            ok = leaked_new == 0 and ratio <= TARGETS[shape]
            failed |= not ok
            print(f"{shape:>10}: {args.mib} MiB, fixed cuts {statistics.median(olds):.2f} s"
                  f" ({leaked_old} secret fragments through), safe cuts {statistics.median(news):.2f} s"
                  f" ({leaked_new} through); median ratio {ratio:.2f} (target <= {TARGETS[shape]})"
                  f" {'ok' if ok else 'FAIL'}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
