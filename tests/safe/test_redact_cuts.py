"""Secrets survive no cut: output copied piece by piece, a tail that starts mid-line, keys at any depth.

Every secret here is made of capital letters and nothing else is: whatever the cuts, the text
cronkit keeps must hold no capital letter at all.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronkit.runlog import leftover
from cronkit.runner import capture
from cronkit.runner.capture import Capture
from cronkit.safe import cut as redactcut
from cronkit.safe.redact import MASK, Redactor
from tests.conftest import write_registry
from tests.fixturetypes import RunCli
from tests.runhelpers import runs

SECRET = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ", min_size=6, max_size=120)
FILLER = st.text(alphabet="xyz .,-\n", min_size=0, max_size=60)
_numbers = itertools.count()
KINDS = ("known", "assign", "bearer", "url", "json")


def _fragment(kind: str, secret: str) -> str:
    return {"known": secret, "assign": f"password={secret}", "bearer": f"authorization: bearer {secret}",
            "url": f"https://deploy:{secret}@git.example.com/x", "json": f'{{"api_key": "{secret}"}}'}[kind]


@st.composite
def leaky_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Filler with secrets in every form the redactor knows; return (text, the known secrets)."""
    parts, known = [draw(FILLER)], []
    for number in range(draw(st.integers(1, 6))):
        # "Q" and a letter of its own start each secret: none is part of another (the redactor masks
        # a known value inside a longer secret first, and the rest of that one is then too short to mask)
        kind, secret = draw(st.sampled_from(KINDS)), "Q" + "ABCDEF"[number] + draw(SECRET)
        if kind == "known":
            known.append(secret)
        parts += [" ", _fragment(kind, secret), draw(st.sampled_from([" ", "\n", " x "])), draw(FILLER)]
    return "".join(parts), known


def _no_capitals(text: str) -> None:
    assert not any(c.isupper() for c in text), f"a secret's letters survived: {text!r}"


def _capture(tmp_path: Path, text: str) -> Capture:
    home = tmp_path / "home"
    cap = Capture("leaky", home)
    cap.open(1)
    assert cap.path is not None
    with open(cap.path, "a", encoding="utf-8") as fh:
        fh.write(text)
    return cap


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sample=leaky_text(), piece=st.integers(1, 300), overlap=st.integers(1, 200))
def test_a_copy_piece_by_piece_never_splits_a_secret(tmp_path: Path, sample: tuple[str, list[str]],
                                                     piece: int, overlap: int) -> None:
    text, known = sample
    log_dir = tmp_path / f"logs-{next(_numbers)}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(capture, "COPY_PIECE", piece)
        mp.setattr(capture, "OUTPUT_TAIL_BYTES", 4)  # the piece-by-piece path, whatever the size
        mp.setattr(redactcut, "OVERLAP", overlap, raising=False)
        tail = _capture(tmp_path, text).collect(Redactor(known), log_dir, "--- run 1 ---\n")
    copied = (log_dir / "leaky.log").read_text()
    _no_capitals(copied)
    _no_capitals(tail or "")
    assert copied.count("xyz") >= 0 and copied.startswith("--- run 1 ---\n")


@settings(max_examples=300, deadline=None)
@given(sample=leaky_text(), cuts=st.lists(st.integers(1, 400), min_size=1, max_size=30),
       piece=st.integers(1, 200))
def test_pieces_fed_at_any_cut_give_no_secret(sample: tuple[str, list[str]], cuts: list[int], piece: int) -> None:
    """The stream redactor, fed the text in chunks of random sizes (as reads of a growing file are)."""
    text, known = sample
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(redactcut, "OVERLAP", 24)
        stream = redactcut.PieceRedactor(Redactor(known), piece)
        out, at = [], 0
        for size in cuts * (len(text) // max(1, sum(cuts)) + 1):
            out.append(stream.feed(text[at:at + size]))
            at += size
            if at >= len(text):
                break
        out.append(stream.close())
    _no_capitals("".join(out))


# The tail the run log keeps: 64 KiB of one long line, its first byte anywhere in a secret.
TAIL = leftover.OUTPUT_TAIL_BYTES


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=8, max_size=3000),
       kind=st.sampled_from(KINDS), into=st.floats(0, 1))
def test_the_kept_tail_never_starts_inside_a_secret(tmp_path: Path, secret: str, kind: str, into: float) -> None:
    fragment = _fragment(kind, secret)
    before = "a" * 70_000 + " "
    start = len(before) + int(into * (len(fragment) - 1))  # where the last 64 KiB begin
    after = " " + "b" * (start + TAIL - len(before) - len(fragment) - 1)
    text = before + fragment + after
    assert len(text) - TAIL == start
    known = [secret] if kind == "known" else []
    tail = _capture(tmp_path, text).collect(Redactor(known), tmp_path / f"logs-{next(_numbers)}", "")
    _no_capitals(tail or "")
    assert tail and tail.endswith("b\n" if tail.endswith("\n") else "b")
    # ... and what a dead runner left, salvaged by the next command
    path = leftover.capture_path(tmp_path / "home", 7, "leaky")
    path.write_text(text)
    _no_capitals(leftover.salvager(tmp_path / "home", Redactor(known))(7, "leaky") or "")


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.one_of(st.text(alphabet="xyz", max_size=5), st.integers(), SECRET.map(lambda s: "K" + s)),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(alphabet="xyz", max_size=4), SECRET.map(lambda s: "K" + s),
                                  st.sampled_from(["password=KSECRETKEY", "token"])), children, max_size=4)),
    max_leaves=20))
def test_keys_are_redacted_at_every_depth(value: object) -> None:
    secrets: set[str] = set()

    def walk(v: object) -> None:
        if isinstance(v, str) and v.startswith("K"):
            secrets.add(v)
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(k)
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    _no_capitals(json.dumps(Redactor(secrets).value(value)))


def test_masked_keys_keep_every_value() -> None:
    redact = Redactor(["KEYONE-SECRET", "KEYTWO-SECRET"])
    out = redact.value({"KEYONE-SECRET": 1, "KEYTWO-SECRET": 2, "plain": {"KEYONE-SECRET": [3]}})
    assert out == {MASK: 1, f"{MASK} #2": 2, "plain": {MASK: [3]}}


def test_a_secret_of_several_lines_is_known_line_by_line() -> None:
    """Text cut at a line before it is redacted (an error's first line) shows no line of a PEM key."""
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
    redact = Redactor.from_sources({"TLS_KEY": key})
    first_lines = [redact(line) for line in key.splitlines()]
    assert first_lines == [MASK] * 4
    assert redact(f"loaded {key} ok") == f"loaded {MASK} ok"


def test_a_secret_across_the_megabyte_cut_of_a_real_run(cronkit_env: dict[str, str], home: Path,
                                                        tmp_path: Path, run_process: RunCli) -> None:
    """A line of 3 MiB with the task's API key astride each 1 MiB cut: the task log holds none of it."""
    secret = "sk-live-" + "Q" * 40
    registry = write_registry(tmp_path / "long_lines.py", f'''
@registry.task("* * * * *", name="longline", environments=["*"])
def longline(ctx):
    key = os.environ["PLATFORM_API_KEY"]
    line = []
    size = 0
    for cut in ({capture.COPY_PIECE}, 2 * {capture.COPY_PIECE}, 3 * {capture.COPY_PIECE}):
        pad = cut - size - len(key) // 2 - 1
        line.append("y" * pad + " " + key)
        size += pad + 1 + len(key)
    sys.stdout.write("".join(line) + " password=" + "Z" * 70000 + " end\\n")
    return {{"ok": 1}}
''')
    env = {"CRONKIT_TASKS": str(registry), "PLATFORM_API_KEY": secret}
    done = run_process("run", "longline", env=env)
    assert done.returncode == 0, done.stderr
    log = (home / "logs" / "cronkit" / "longline.log").read_bytes()
    assert len(log) > 3 * capture.COPY_PIECE - 200
    assert b"Q" not in log and b"Z" not in log
    assert log.count(b"***") >= 3
    output = runs(home / "cronkit.db")[0]["output"]
    assert "Q" not in output and "Z" not in output and output.endswith("end\n")
    assert os.listdir(home / "capture") == []
