"""Deterministic sample data for the learning platform: database rows, Redis tokens, log files.

`seed_demo` fills what the built-in tasks work on, so every task has something to do on a
fresh installation. The same seed and the same clock (CRONKIT_NOW) give the same data.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, text

from cronkit import clock
from cronkit.errors import UsageError
from cronkit.locks.redisconn import connect
from cronkit.tasks import platform as p
from cronkit.tasks.demo_logs import DEFAULT_LARGE_LOG_MB, seed_logs
from cronkit.tasks.secret_rotation import seed_demo_secrets

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from cronkit.config.settings import Settings

DEFAULT_USERS = 1000
DEFAULT_COURSES = 30
DEFAULT_DAYS = 60
DEFAULT_SEED = 42
INSERT_BATCH = 10_000
DEMO_EMAIL_DOMAIN = "demo.cronkit.invalid"
REFRESH_TOKEN_DAYS = 30

SUBJECTS = (
    "Python",
    "Statistics",
    "Linear Algebra",
    "Web Development",
    "Databases",
    "Machine Learning",
    "Design",
    "Writing",
    "Spanish",
    "Marketing",
    "Finance",
    "Photography",
    "Music Theory",
    "Cloud Computing",
    "Security",
    "Product Management",
    "Data Visualization",
    "Rust",
    "Biology",
    "Chemistry",
)
LEVELS = ("Foundations", "Essentials", "In Practice", "Advanced", "Masterclass")
# (kind, weight, typical seconds spent)
EVENT_MIX = (
    (p.LESSON_VIEWED, 55, 420),
    ("video_watched", 15, 600),
    (p.QUIZ_SUBMITTED, 12, 300),
    (p.LESSON_COMPLETED, 10, 60),
    ("forum_posted", 8, 180),
)
PLATFORM_DATA_TABLES = (
    p.activity_events,
    p.enrollments,
    p.password_reset_tokens,
    p.users,
    p.courses,
    p.hourly_event_counts,
    p.hourly_metrics,
    p.daily_course_stats,
    p.daily_student_stats,
    p.reports,
)


def _batched(
    rows: Iterator[dict[str, Any]] | list[dict[str, Any]], size: int = INSERT_BATCH
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# Told what is being written and how many rows or files more, as the seed goes: (what, count).
Progress = Callable[[str, int], None]


def _quiet(what: str, count: int) -> None:
    """Ignore the seed's progress (the default: library code never prints)."""


def _insert(
    conn: Connection, table: Any, rows: Iterator[dict[str, Any]] | list[dict[str, Any]],
    progress: Progress = _quiet,
) -> int:
    count = 0
    for batch in _batched(rows):
        conn.execute(insert(table), batch)
        count += len(batch)
        progress(table.name.replace("_", " "), len(batch))
    return count


def _reset(conn: Connection) -> None:
    for table in PLATFORM_DATA_TABLES:
        conn.execute(delete(table))


def _fix_sequences(conn: Connection) -> None:
    """Move PostgreSQL's id sequences past the ids the seed chose, so later inserts fit."""
    if conn.dialect.name != "postgresql":
        return
    for table in (p.users, p.courses):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


def seed_demo(
    settings: Settings,
    *,
    users: int = DEFAULT_USERS,
    courses: int = DEFAULT_COURSES,
    days: int = DEFAULT_DAYS,
    seed: int = DEFAULT_SEED,
    large_log_mb: float = DEFAULT_LARGE_LOG_MB,
    reset: bool = False,
    now: datetime | None = None,
    engine: Engine | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Fill the platform database, Redis (when configured) and the log directory; return the counts.

    Refuses a platform database that already holds users unless `reset` is true, which first
    empties the platform's data and stats tables (never the secrets table). `progress` is told
    each batch written, for a progress bar at a terminal.
    """
    if users < 1 or courses < 1 or days < 1:
        raise UsageError("demo seed: --users, --courses and --days must be at least 1")
    if large_log_mb < 0:
        raise UsageError("demo seed: --large-log-mb must not be negative")
    now = (now or clock.now()).astimezone(UTC)
    rng = random.Random(seed)
    engine = engine or p.engine_for(settings)
    p.create_all(engine)

    with engine.begin() as conn:
        existing = conn.execute(select(func.count()).select_from(p.users)).scalar_one()
        if existing and not reset:
            raise UsageError(
                f"demo seed: the platform database already holds {existing:,} users; "
                "pass --reset to replace its data with demo data"
            )
        if reset:
            _reset(conn)
        counts = _seed_database(conn, rng, now, users=users, courses=courses, days=days, progress=progress)
        _fix_sequences(conn)

    progress("secrets", 0)
    counts["secrets"] = _seed_secrets(engine, settings, now)
    progress("refresh tokens", 0)
    counts.update(_seed_redis(settings, rng, now, counts.pop("_login_users"), reset=reset))
    progress("log files", 0)
    counts.update(seed_logs(settings.log_dir, now, rng, large_log_mb=large_log_mb))
    counts["now"] = now.isoformat()
    return counts


def _seed_secrets(engine: Engine, settings: Settings, now: datetime) -> int:
    return int(seed_demo_secrets(engine, settings, now))


def _course_rows(
    rng: random.Random, now: datetime, window_start: datetime, courses: int
) -> list[dict[str, Any]]:
    """Return the courses: most exist before the window; the last one is brand new."""
    course_rows: list[dict[str, Any]] = []
    for cid in range(1, courses + 1):
        subject = SUBJECTS[(cid - 1) % len(SUBJECTS)]
        title = f"{subject} {LEVELS[((cid - 1) // len(SUBJECTS)) % len(LEVELS)]}"
        if (cid - 1) >= len(SUBJECTS) * len(LEVELS):
            title += f" {cid}"
        created = window_start - timedelta(days=rng.uniform(30, 400))
        if cid == courses and courses > 1:
            created = now - timedelta(hours=rng.uniform(1, 20))
        course_rows.append({"id": cid, "title": title, "created_at": created})
    return course_rows


def _user_rows(rng: random.Random, now: datetime, users: int) -> list[dict[str, Any]]:
    """Return the users: sign-ups over the last year, more recently; ~12% never verified."""
    user_rows: list[dict[str, Any]] = []
    for uid in range(1, users + 1):
        created = now - timedelta(days=365 * rng.random() ** 1.5, seconds=rng.randrange(86_400))
        verified = rng.random() > 0.12
        last_login = None
        if verified:
            last_login = created + (now - created) * rng.uniform(0.3, 1.0)
        user_rows.append(
            {
                "id": uid,
                "email": f"user{uid:06d}@{DEMO_EMAIL_DOMAIN}",
                "verified": verified,
                "created_at": created,
                "last_login_at": last_login,
            }
        )
    return user_rows


def _enrollment_rows(
    rng: random.Random, now: datetime, user_rows: list[dict[str, Any]],
    enrollable: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[int, list[tuple[int, datetime, datetime | None]]]]:
    """Return the enrollments and each learner's (course, enrolled, completed).

    Verified users take 1-4 courses, popular (earlier) courses more often.
    """
    popularity = [1.0 / (rank + 1) ** 0.8 for rank in range(len(enrollable))]
    enrollment_rows: list[dict[str, Any]] = []
    learner_courses: dict[int, list[tuple[int, datetime, datetime | None]]] = {}
    for u in user_rows:
        if not u["verified"]:
            continue
        picks = {
            c["id"]: c for c in rng.choices(enrollable, weights=popularity, k=rng.randint(1, 4))
        }
        for cid, course in sorted(picks.items()):
            start = max(u["created_at"], course["created_at"])
            enrolled = start + (now - start) * rng.random() ** 2
            completed = None
            progress = round(rng.random() * 0.95, 3)
            if rng.random() < 0.3 and enrolled < now - timedelta(days=3):
                completed = enrolled + (now - enrolled) * rng.uniform(0.2, 1.0)
                progress = 1.0
            enrollment_rows.append(
                {
                    "user_id": u["id"],
                    "course_id": cid,
                    "enrolled_at": enrolled,
                    "progress": progress,
                    "completed_at": completed,
                }
            )
            learner_courses.setdefault(u["id"], []).append((cid, enrolled, completed))
    return enrollment_rows, learner_courses


def _seed_database(
    conn: Connection, rng: random.Random, now: datetime, *, users: int, courses: int, days: int,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """Insert the platform's rows; the order of the random draws makes the dataset."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window_start = today - timedelta(days=days)
    course_rows = _course_rows(rng, now, window_start, courses)
    enrollable = course_rows[:-1] if courses > 1 else course_rows
    user_rows = _user_rows(rng, now, users)
    unverified = [u for u in user_rows if not u["verified"]]
    stale_unverified = sum(1 for u in unverified if u["created_at"] < now - timedelta(days=30))
    enrollment_rows, learner_courses = _enrollment_rows(rng, now, user_rows, enrollable)

    counts: dict[str, Any] = {
        "courses": _insert(conn, p.courses, course_rows, progress),
        "users": _insert(conn, p.users, user_rows, progress),
        "unverified_users": len(unverified),
        "stale_unverified_users": stale_unverified,
        "enrollments": _insert(conn, p.enrollments, enrollment_rows, progress),
        "completed_enrollments": sum(1 for e in enrollment_rows if e["completed_at"] is not None),
    }
    counts["activity_events"] = _insert(
        conn, p.activity_events, _events(rng, now, today, days, learner_courses), progress
    )
    resets, expired = _reset_tokens(rng, now, user_rows)
    counts["password_reset_tokens"] = _insert(conn, p.password_reset_tokens, resets, progress)
    counts["expired_password_reset_tokens"] = expired
    counts["from"] = window_start.isoformat()
    counts["_login_users"] = [u["id"] for u in user_rows if u["last_login_at"] is not None]
    return counts


def _events(
    rng: random.Random,
    now: datetime,
    today: datetime,
    days: int,
    learner_courses: dict[int, list[tuple[int, datetime, datetime | None]]],
) -> Iterator[dict[str, Any]]:
    """Yield activity events day by day: engaged learners come back often, weekends are quieter."""
    kinds = [k for k, _, _ in EVENT_MIX]
    weights = [w for _, w, _ in EVENT_MIX]
    typical = {k: s for k, _, s in EVENT_MIX}
    engagement = {uid: rng.betavariate(1.2, 4.0) for uid in learner_courses}
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        factor = 1.0 if day.weekday() < 5 else 0.45
        for uid, taken in learner_courses.items():
            if rng.random() >= engagement[uid] * factor:
                continue
            open_courses = [
                (cid, enrolled)
                for cid, enrolled, done in taken
                if enrolled < day + timedelta(days=1) and (done is None or done > day)
            ]
            if not open_courses:
                continue
            # Sessions happen in the daytime, mostly 08:00-22:00 UTC.
            at = day + timedelta(hours=min(23.9, max(0.0, rng.gauss(14, 4))))
            cid, enrolled = rng.choice(open_courses)
            if at >= now:
                continue
            yield {
                "user_id": uid,
                "course_id": None,
                "kind": "login",
                "occurred_at": at,
                "seconds_spent": 0,
            }
            for _ in range(rng.randint(2, 9)):
                at += timedelta(seconds=rng.randint(30, 900))
                if at >= now:
                    break
                if at < enrolled:
                    continue
                kind = rng.choices(kinds, weights=weights)[0]
                seconds = max(5, int(rng.gauss(typical[kind], typical[kind] / 3)))
                yield {
                    "user_id": uid,
                    "course_id": cid,
                    "kind": kind,
                    "occurred_at": at,
                    "seconds_spent": seconds,
                }


def _reset_tokens(
    rng: random.Random, now: datetime, user_rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    rows, expired = [], 0
    for u in user_rows:
        if rng.random() >= 0.06:
            continue
        # A fifth are still valid (issued in the last hour); the rest expired over the last 20 days.
        hours_ago = rng.uniform(0.05, 0.9) if rng.random() < 0.2 else rng.uniform(1, 24 * 20)
        created = now - timedelta(hours=hours_ago)
        if created < u["created_at"]:
            continue
        expires = created + timedelta(hours=1)
        used = created + timedelta(minutes=rng.uniform(1, 50)) if rng.random() < 0.5 else None
        expired += expires < now
        rows.append(
            {
                "user_id": u["id"],
                "token_hash": hashlib.sha256(rng.randbytes(32)).hexdigest(),
                "created_at": created,
                "expires_at": expires,
                "used_at": used,
            }
        )
    return rows, expired


def _seed_redis(
    settings: Settings, rng: random.Random, now: datetime, login_users: list[int], *, reset: bool
) -> dict[str, int]:
    """Store 1-3 refresh tokens per user who logged in; some expired, most valid."""
    if not settings.redis_url:
        return {"refresh_tokens": 0, "expired_refresh_tokens": 0}
    client = connect(settings.redis_url)
    try:
        if reset:
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{p.REFRESH_TOKEN_PREFIX}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
        rows = []
        now_s = int(now.timestamp())
        for uid in login_users:
            for _ in range(rng.randint(1, 3)):
                issued = now_s - rng.randrange(0, 60 * 86_400)
                rows.append((rng.randbytes(16).hex(), uid, issued + REFRESH_TOKEN_DAYS * 86_400))
        written = p.store_refresh_tokens(client, rows)
    finally:
        client.close()
    return {
        "refresh_tokens": written,
        "expired_refresh_tokens": sum(1 for _, _, exp in rows if exp < now_s),
    }
