"""The run log's version and the caches keyed on it (cronkit/web/cache.py): real SQLite, real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from cronkit.runlog.engines import create_engine_for
from cronkit.runlog.schema import upgrade
from cronkit.web.cache import DataVersion, VersionedCache


def _insert_meta(engine: Engine, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES (:k, 'v')"), {"k": key})


def _check_version(url: str) -> None:
    engine = create_engine_for(url)
    try:
        upgrade(engine)
        version = DataVersion(engine, url)

        def unchanged_by(action: Callable[[], object]) -> bool:
            # PostgreSQL's version is the cluster's transaction snapshot: another test's commit
            # (xdist runs several at once) moves it too. So the claim is that *some* try, with no
            # commit of anyone's in between, sees the same version; SQLite's file is ours alone.
            for _ in range(1 if url.startswith("sqlite") else 50):
                first = version.read()
                action()
                if first is not None and version.read() == first:
                    return True
            return False

        def read_runs() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM runs")).all()

        assert unchanged_by(lambda: None)  # nothing committed: the same
        assert unchanged_by(read_runs)  # reads change nothing
        before = version.read()
        _insert_meta(engine, "first")
        after = version.read()
        assert after is not None and after != before
        _insert_meta(engine, "second")
        assert version.read() != after
        # Without waiting (the event loop): SQLite's answer, never a network round trip.
        assert version.read(wait=False) == (version.read() if url.startswith("sqlite") else None)
        version.close()
    finally:
        engine.dispose()


def test_sqlite_version_changes_with_every_commit_and_only_then(tmp_path: Path) -> None:
    _check_version(f"sqlite:///{tmp_path / 'cronkit.db'}")


def test_postgres_version_changes_with_every_commit_and_only_then(pg_url: str) -> None:
    _check_version(pg_url)


def test_an_answer_is_reused_while_its_version_holds() -> None:
    cache: VersionedCache[str] = VersionedCache(2, 60.0)
    computed: list[str] = []

    def compute(value: str) -> Callable[[], str]:
        def run() -> str:
            computed.append(value)
            return value

        return run

    assert cache.get("a", 1, compute("a1")) == "a1"
    assert cache.get("a", 1, compute("again")) == "a1"
    assert cache.get("a", 2, compute("a2")) == "a2"  # the run log changed: computed afresh
    assert cache.get("a", None, compute("x")) == "x"  # an unknown version is never reused...
    assert cache.get("a", None, compute("y")) == "y"  # ...nor stored over the kept answer
    assert cache.get("a", 2, compute("no")) == "a2"
    cache.get("b", 2, compute("b2"))
    cache.get("c", 2, compute("c2"))
    assert len(cache) == 2  # bounded: the least recently used went
    assert cache.get("a", 2, compute("a2 again")) == "a2 again"
    assert computed == ["a1", "a2", "x", "y", "b2", "c2", "a2 again"]


def test_bytes_answers_are_bounded_in_size_too() -> None:
    cache: VersionedCache[bytes] = VersionedCache(10, 60.0, max_bytes=250)
    for key in "abc":
        cache.get(key, 1, lambda: b"x" * 100)
    assert len(cache) == 2 and cache.kept("a", 1) is None and cache.kept("c", 1) == b"x" * 100
    cache.get("c", 2, lambda: b"y" * 200)  # replaced: its old size is no longer counted
    assert len(cache) == 1 and cache.kept("c", 2) == b"y" * 200


def test_an_answer_older_than_max_age_is_computed_afresh() -> None:
    cache: VersionedCache[int] = VersionedCache(4, 0.0)
    counter = iter(range(100))
    first = cache.get("k", 1, lambda: next(counter))
    assert cache.get("k", 1, lambda: next(counter)) != first


def test_concurrent_misses_compute_once() -> None:
    cache: VersionedCache[int] = VersionedCache(4, 60.0)
    calls: list[int] = []
    inside = threading.Event()
    release = threading.Event()

    def slow() -> int:
        calls.append(1)
        inside.set()
        release.wait(30)
        return 42

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(cache.get("k", 7, slow)))
    first.start()
    assert inside.wait(30)
    others = [threading.Thread(target=lambda: answers.append(cache.get("k", 7, slow))) for _ in range(3)]
    for thread in others:
        thread.start()
    release.set()
    for thread in (first, *others):
        thread.join(30)
    assert answers == [42] * 4 and calls == [1]
