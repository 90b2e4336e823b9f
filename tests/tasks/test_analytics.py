"""The analytics tasks against a small hand-built dataset, every number computed by hand.

Runs on SQLite always and on PostgreSQL when CRONKIT_TEST_PG_URL is set (a fresh schema per test).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from cronkit.config.settings import Settings, load_settings
from cronkit.context import TaskContext
from cronkit.errors import ConfigError, UsageError
from cronkit.registry import task_config
from cronkit.runlog.engines import create_engine_for
from cronkit.tasks import platform as p
from cronkit.tasks import registry
from cronkit.tasks.analytics import periods as a


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- databases ---------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty platform database: a SQLite file, or a fresh schema on the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'platform.db'}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def settings(app_url: str, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    return load_settings(environ={"CRONKIT_HOME": str(home), "CRONKIT_APP_DB_URL": app_url})


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = create_engine_for(settings.app_db_url)
    p.create_all(eng)
    yield eng
    eng.dispose()


class Runner:
    """Build TaskContexts the way the runner does and call the task functions directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.contexts: list[TaskContext] = []

    def __call__(
        self,
        name: str,
        now: datetime,
        *,
        day: date | None = None,
        params: dict[str, str] | None = None,
        dry_run: bool = False,
        slot: datetime | None = None,
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        task = registry[name]
        ctx = TaskContext(
            task=name,
            settings=self.settings,
            config=task_config(task, config or {}),
            now=now,
            params=params or {},
            slot=slot,
            date=day,
            dry_run=dry_run,
        )
        self.contexts.append(ctx)
        result: dict[str, Any] = task.load()(ctx)
        json.dumps(result)  # a run's result must be JSON-serialisable
        return result

    def close(self) -> None:
        for ctx in self.contexts:
            if "app_db" in ctx.__dict__:
                ctx.app_db.dispose()


@pytest.fixture
def run(settings: Settings) -> Iterator[Runner]:
    runner = Runner(settings)
    yield runner
    runner.close()


# --- the hand-built dataset --------------------------------------------------------------
# Week W47 (as cronkit names it) is Sun 2026-11-15 .. Sat 2026-11-21; W46 is 11-08 .. 11-14.

COURSES = [
    {"id": 1, "title": "Algebra", "created_at": utc(2026, 1, 1)},
    {"id": 2, "title": "Biology", "created_at": utc(2026, 1, 1)},
    {"id": 3, "title": "Chemistry", "created_at": utc(2026, 1, 1)},  # never enrolled, never active
    {
        "id": 4,
        "title": "Drawing",
        "created_at": utc(2026, 11, 25),
    },  # created after the day and week
]
USERS = [
    {
        "id": 1,
        "email": "u1@x.test",
        "verified": True,
        "created_at": utc(2026, 10, 5),
        "last_login_at": None,
    },
    {
        "id": 2,
        "email": "u2@x.test",
        "verified": True,
        "created_at": utc(2026, 10, 20),
        "last_login_at": None,
    },
    {
        "id": 3,
        "email": "u3@x.test",
        "verified": False,
        "created_at": utc(2026, 11, 20, 13),
        "last_login_at": None,
    },
    {
        "id": 4,
        "email": "u4@x.test",
        "verified": True,
        "created_at": utc(2026, 11, 20, 14),
        "last_login_at": None,
    },
    {
        "id": 5,
        "email": "u5@x.test",
        "verified": True,
        "created_at": utc(2026, 9, 15),
        "last_login_at": None,
    },
]
ENROLLMENTS = [
    {
        "id": 1,
        "user_id": 1,
        "course_id": 1,
        "enrolled_at": utc(2026, 10, 6, 10),
        "progress": 1.0,
        "completed_at": utc(2026, 11, 20, 13, 30),
    },
    {
        "id": 2,
        "user_id": 1,
        "course_id": 2,
        "enrolled_at": utc(2026, 11, 20),
        "progress": 0.25,
        "completed_at": None,
    },
    {
        "id": 3,
        "user_id": 2,
        "course_id": 1,
        "enrolled_at": utc(2026, 11, 10, 12),
        "progress": 0.5,
        "completed_at": None,
    },
    {
        "id": 4,
        "user_id": 4,
        "course_id": 2,
        "enrolled_at": utc(2026, 11, 21),
        "progress": 0.0,
        "completed_at": None,
    },
    {
        "id": 5,
        "user_id": 5,
        "course_id": 1,
        "enrolled_at": utc(2026, 9, 16),
        "progress": 0.1,
        "completed_at": None,
    },
    {
        "id": 6,
        "user_id": 2,
        "course_id": 2,
        "enrolled_at": utc(2026, 11, 9, 8),
        "progress": 1.0,
        "completed_at": utc(2026, 11, 14, 23, 59, 59),
    },
]


def ev(
    i: int, user: int, course: int | None, kind: str, at: datetime, seconds: int
) -> dict[str, Any]:
    return {
        "id": i,
        "user_id": user,
        "course_id": course,
        "kind": kind,
        "occurred_at": at,
        "seconds_spent": seconds,
    }


EVENTS = [
    ev(1, 1, 1, "lesson_viewed", utc(2026, 11, 20), 300),  # first instant of the day, hour 00
    ev(2, 1, 1, "lesson_completed", utc(2026, 11, 20, 13), 60),  # first instant of hour 13
    ev(
        3,
        1,
        2,
        "quiz_submitted",
        datetime(2026, 11, 20, 13, 59, 59, 999999, tzinfo=UTC),
        120,
    ),
    ev(4, 2, 1, "lesson_viewed", utc(2026, 11, 20, 13, 15), 200),
    ev(5, 2, None, "login", utc(2026, 11, 20, 13, 20), 0),
    ev(6, 2, 1, "lesson_viewed", utc(2026, 11, 20, 14), 100),  # first instant of hour 14
    ev(7, 1, 1, "lesson_viewed", utc(2026, 11, 21), 50),  # first instant of the next day
    ev(8, 3, None, "login", utc(2026, 11, 19, 23, 59, 59), 0),  # last second of the day before
    ev(9, 2, 1, "lesson_viewed", utc(2026, 11, 12, 10), 400),  # previous week
    ev(10, 1, 2, "lesson_viewed", utc(2026, 11, 8), 30),  # first instant of the previous week
    ev(11, 2, 2, "video_watched", utc(2026, 11, 15), 90),  # first instant of the week
    ev(
        12, 1, 1, "lesson_viewed", utc(2026, 11, 7, 23, 59, 59), 10
    ),  # just before the previous week
]


def load_dataset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(p.courses), COURSES)
        conn.execute(insert(p.users), USERS)
        conn.execute(insert(p.enrollments), ENROLLMENTS)
        conn.execute(insert(p.activity_events), EVENTS)


@pytest.fixture
def data(engine: Engine) -> Engine:
    load_dataset(engine)
    return engine


def rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(r._mapping) for r in result]


AFTER_W47 = utc(2026, 11, 22, 1, 0, 5)  # the scheduled Sunday 01:00 run that follows week W47

# --- hourly-metrics ----------------------------------------------------------------------


def test_hourly_metrics_for_one_hour(data: Engine, run: Runner) -> None:
    result = run("hourly-metrics", AFTER_W47, params={"hour": "2026-11-20T13"})
    assert result == {
        "hours": 1,
        "from": "2026-11-20T13:00:00+00:00",
        "to": "2026-11-20T14:00:00+00:00",
        "active_users": 2,
        "events": 4,
        "signups": 1,
        "enrollments": 0,
        "completions": 1,
        "events_by_kind": {
            "lesson_completed": 1,
            "lesson_viewed": 1,
            "login": 1,
            "quiz_submitted": 1,
        },
        "rows_written": 5,
    }
    assert rows(data, p.hourly_metrics) == [
        {
            "hour_start": utc(2026, 11, 20, 13),
            "active_users": 2,
            "events": 4,
            "time_spent_seconds": 380,
            "signups": 1,
            "enrollments": 0,
            "completions": 1,
        }
    ]
    assert [(r["kind"], r["events"]) for r in rows(data, p.hourly_event_counts)] == [
        ("lesson_completed", 1),
        ("lesson_viewed", 1),
        ("login", 1),
        ("quiz_submitted", 1),
    ]


def test_hourly_metrics_defaults_to_the_last_full_hour(data: Engine, run: Runner) -> None:
    run("hourly-metrics", utc(2026, 11, 20, 14, 0, 3))
    run("hourly-metrics", utc(2026, 11, 20, 15, 0, 2), slot=utc(2026, 11, 20, 15))
    hours = rows(data, p.hourly_metrics)
    assert [
        (h["hour_start"], h["events"], h["active_users"], h["time_spent_seconds"], h["signups"])
        for h in hours
    ] == [
        (utc(2026, 11, 20, 13), 4, 2, 380, 1),
        (utc(2026, 11, 20, 14), 1, 1, 100, 1),
    ]


def test_hourly_metrics_backfills_every_hour_of_a_date(data: Engine, run: Runner) -> None:
    result = run("hourly-metrics", AFTER_W47, day=date(2026, 11, 20))
    assert result["hours"] == 24
    assert (
        result["events"],
        result["active_user_hours"],
        result["signups"],
        result["enrollments"],
        result["completions"],
    ) == (6, 4, 2, 1, 1)
    assert result["events_by_kind"] == {
        "lesson_completed": 1,
        "lesson_viewed": 3,
        "login": 1,
        "quiz_submitted": 1,
    }
    hours = {h["hour_start"].hour: h for h in rows(data, p.hourly_metrics)}
    assert len(hours) == 24
    assert {
        k: (v["events"], v["enrollments"])
        for k, v in hours.items()
        if v["events"] or v["enrollments"]
    } == {0: (1, 1), 13: (4, 0), 14: (1, 0)}
    assert hours[5] == {
        "hour_start": utc(2026, 11, 20, 5),
        "active_users": 0,
        "events": 0,
        "time_spent_seconds": 0,
        "signups": 0,
        "enrollments": 0,
        "completions": 0,
    }


def test_hourly_metrics_refuses_an_unfinished_hour_and_a_bad_hour(
    data: Engine, run: Runner
) -> None:
    with pytest.raises(UsageError, match="has not ended"):
        run("hourly-metrics", utc(2026, 11, 20, 13, 30), params={"hour": "2026-11-20T13"})
    with pytest.raises(UsageError, match="not an hour"):
        run("hourly-metrics", AFTER_W47, params={"hour": "yesterday"})
    with pytest.raises(UsageError, match="not on the hour"):
        run("hourly-metrics", AFTER_W47, params={"hour": "2026-11-20T13:30"})
    assert a.parse_hour("2026-11-20T15+02:00") == utc(2026, 11, 20, 13)


# --- daily-analytics-updates -------------------------------------------------------------

DAY_20_COURSES = [
    {
        "day": date(2026, 11, 20),
        "course_id": 1,
        "active_students": 2,
        "new_enrollments": 0,
        "completions": 1,
        "lessons_viewed": 3,
        "enrolled_students": 3,
        "avg_progress": pytest.approx(1.6 / 3),
        "time_spent_seconds": 660,
    },
    {
        "day": date(2026, 11, 20),
        "course_id": 2,
        "active_students": 1,
        "new_enrollments": 1,
        "completions": 0,
        "lessons_viewed": 0,
        "enrolled_students": 2,
        "avg_progress": pytest.approx(0.625),
        "time_spent_seconds": 120,
    },
    {
        "day": date(2026, 11, 20),
        "course_id": 3,
        "active_students": 0,
        "new_enrollments": 0,
        "completions": 0,
        "lessons_viewed": 0,
        "enrolled_students": 0,
        "avg_progress": 0.0,
        "time_spent_seconds": 0,
    },
]
DAY_20_STUDENTS = [
    {
        "day": date(2026, 11, 20),
        "user_id": 1,
        "events": 3,
        "time_spent_seconds": 480,
        "lessons_completed": 1,
        "courses_active": 2,
    },
    {
        "day": date(2026, 11, 20),
        "user_id": 2,
        "events": 3,
        "time_spent_seconds": 300,
        "lessons_completed": 0,
        "courses_active": 1,
    },
]


def test_daily_analytics_for_the_previous_day(data: Engine, run: Runner) -> None:
    result = run("daily-analytics-updates", utc(2026, 11, 21, 0, 0, 4), slot=utc(2026, 11, 21))
    assert result == {
        "day": "2026-11-20",
        "course_rows": 3,
        "student_rows": 2,
        "active_students": 2,
        "events": 6,
        "time_spent_seconds": 780,
    }
    assert rows(data, p.daily_course_stats) == DAY_20_COURSES
    assert rows(data, p.daily_student_stats) == DAY_20_STUDENTS


def test_daily_analytics_rerun_leaves_identical_rows_and_drops_stale_ones(
    data: Engine, run: Runner
) -> None:
    now = utc(2026, 11, 21, 0, 0, 4)
    first = run("daily-analytics-updates", now)
    before = (rows(data, p.daily_course_stats), rows(data, p.daily_student_stats))
    assert run("daily-analytics-updates", now) == first
    assert (rows(data, p.daily_course_stats), rows(data, p.daily_student_stats)) == before
    # The period is replaced as a whole: a student whose events are gone loses the row.
    with data.begin() as conn:
        conn.execute(delete(p.activity_events).where(p.activity_events.c.user_id == 2))
    run("daily-analytics-updates", now)
    assert [r["user_id"] for r in rows(data, p.daily_student_stats)] == [1]
    assert [r["active_students"] for r in rows(data, p.daily_course_stats)] == [1, 1, 0]


def test_daily_analytics_backfill_keeps_other_days(data: Engine, run: Runner) -> None:
    run("daily-analytics-updates", AFTER_W47, day=date(2026, 11, 20))
    result = run("daily-analytics-updates", AFTER_W47, day=date(2026, 11, 19))
    assert result == {
        "day": "2026-11-19",
        "course_rows": 3,
        "student_rows": 1,
        "active_students": 1,
        "events": 1,
        "time_spent_seconds": 0,
    }
    courses = [r for r in rows(data, p.daily_course_stats) if r["day"] == date(2026, 11, 19)]
    assert courses == [
        {
            "day": date(2026, 11, 19),
            "course_id": 1,
            "active_students": 0,
            "new_enrollments": 0,
            "completions": 0,
            "lessons_viewed": 0,
            "enrolled_students": 3,
            "avg_progress": pytest.approx(1.6 / 3),
            "time_spent_seconds": 0,
        },
        {
            "day": date(2026, 11, 19),
            "course_id": 2,
            "active_students": 0,
            "new_enrollments": 0,
            "completions": 0,
            "lessons_viewed": 0,
            "enrolled_students": 1,
            "avg_progress": 1.0,
            "time_spent_seconds": 0,
        },
        {
            "day": date(2026, 11, 19),
            "course_id": 3,
            "active_students": 0,
            "new_enrollments": 0,
            "completions": 0,
            "lessons_viewed": 0,
            "enrolled_students": 0,
            "avg_progress": 0.0,
            "time_spent_seconds": 0,
        },
    ]
    students = rows(data, p.daily_student_stats)
    assert [r for r in students if r["day"] == date(2026, 11, 19)] == [
        {
            "day": date(2026, 11, 19),
            "user_id": 3,
            "events": 1,
            "time_spent_seconds": 0,
            "lessons_completed": 0,
            "courses_active": 0,
        }
    ]
    assert [r for r in students if r["day"] == date(2026, 11, 20)] == DAY_20_STUDENTS
    assert [
        r for r in rows(data, p.daily_course_stats) if r["day"] == date(2026, 11, 20)
    ] == DAY_20_COURSES


def test_daily_analytics_empty_day_gives_zeros(data: Engine, run: Runner) -> None:
    result = run("daily-analytics-updates", AFTER_W47, day=date(2026, 6, 1))
    assert result == {
        "day": "2026-06-01",
        "course_rows": 3,
        "student_rows": 0,
        "active_students": 0,
        "events": 0,
        "time_spent_seconds": 0,
    }
    assert {r["enrolled_students"] for r in rows(data, p.daily_course_stats)} == {0}


def test_empty_database_gives_zeros(engine: Engine, run: Runner) -> None:
    assert run("daily-analytics-updates", AFTER_W47)["course_rows"] == 0
    weekly = run("weekly-trend-reports", AFTER_W47)
    assert (weekly["courses"], weekly["active_students"], weekly["enrollments"]) == (0, 0, 0)
    monthly = run("monthly-executive-summaries", AFTER_W47)
    assert (monthly["total_users"], monthly["active_users"], monthly["top_courses"]) == (0, 0, 0)


# --- weekly-trend-reports ----------------------------------------------------------------


def change(cur: float, prev: float) -> dict[str, Any]:
    return {
        "current": cur,
        "previous": prev,
        "change": cur - prev,
        "change_pct": (cur - prev) / prev * 100 if prev else None,
    }


def test_weekly_trend_report_numbers(data: Engine, run: Runner, settings: Settings) -> None:
    result = run("weekly-trend-reports", AFTER_W47, slot=utc(2026, 11, 22, 1))
    md_path, json_path = (
        settings.reports_dir / "weekly-2026-W47.md",
        settings.reports_dir / "weekly-2026-W47.json",
    )
    assert result == {
        "period": "2026-W47",
        "start": "2026-11-15T00:00:00+00:00",
        "end": "2026-11-22T00:00:00+00:00",
        "courses": 3,
        "active_students": 3,
        "enrollments": 2,
        "completions": 1,
        "movers_up": 2,
        "movers_down": 0,
        "files": [str(md_path), str(json_path)],
    }
    body = json.loads(json_path.read_text())
    assert body["overall"] == {
        "active_students": change(3, 2),
        "enrollments": change(2, 2),
        "completions": change(1, 1),
        "completion_rate": change(1 / 5, 1 / 4),
    }
    courses = {c["course_id"]: c for c in body["courses"]}
    assert set(courses) == {1, 2, 3}
    assert courses[1] == {
        "course_id": 1,
        "title": "Algebra",
        "active_students": change(2, 1),
        "enrollments": change(0, 1),
        "completions": change(1, 0),
        "completion_rate": change(1 / 3, 0),
    }
    assert courses[2] == {
        "course_id": 2,
        "title": "Biology",
        "active_students": change(2, 1),
        "enrollments": change(2, 1),
        "completions": change(0, 1),
        "completion_rate": change(0, 1),
    }
    assert courses[3] == {
        "course_id": 3,
        "title": "Chemistry",
        "active_students": change(0, 0),
        "enrollments": change(0, 0),
        "completions": change(0, 0),
        "completion_rate": change(0, 0),
    }
    assert body["top_movers"] == {
        "up": [
            {
                "course_id": 1,
                "title": "Algebra",
                "active_students": 2,
                "previous": 1,
                "change": 1,
                "change_pct": 100.0,
            },
            {
                "course_id": 2,
                "title": "Biology",
                "active_students": 2,
                "previous": 1,
                "change": 1,
                "change_pct": 100.0,
            },
        ],
        "down": [],
    }
    assert (body["start"], body["end"], body["previous_period"]) == (
        "2026-11-15T00:00:00+00:00",
        "2026-11-22T00:00:00+00:00",
        "2026-W46",
    )

    markdown = md_path.read_text()
    assert markdown.startswith(
        "# Weekly trend report 2026-W47\n\nWeek: 2026-11-15 to 2026-11-21 (UTC), "
        "compared with 2026-W46 (2026-11-08 to 2026-11-14)."
    )
    assert "| Active students | 3 | 2 | +1 (+50.0%) |" in markdown
    assert "| Completion rate | 20.0% | 25.0% | -5.0 pp |" in markdown
    assert "| Chemistry |" not in markdown  # no activity in either week
    with data.connect() as conn:
        stored = conn.execute(select(p.reports)).one()._mapping
    assert (stored["kind"], stored["period"], stored["period_start"], stored["period_end"]) == (
        "weekly",
        "2026-W47",
        utc(2026, 11, 15),
        utc(2026, 11, 22),
    )
    assert json.loads(stored["body"]) == body and stored["markdown"] == markdown


def test_weekly_top_movers_limit_and_down(data: Engine, run: Runner, settings: Settings) -> None:
    # Week W46 against W45: Algebra 1 (u2) vs 1 (u1, 11-07), Biology 1 (u1) vs 0.
    result = run(
        "weekly-trend-reports", AFTER_W47, day=date(2026, 11, 14), config={"top_movers": 1}
    )
    assert (result["period"], result["active_students"], result["movers_up"]) == ("2026-W46", 2, 1)
    body = json.loads((settings.reports_dir / "weekly-2026-W46.json").read_text())
    assert body["overall"]["active_students"] == change(2, 1)
    assert [m["course_id"] for m in body["top_movers"]["up"]] == [2]
    # W48 (11-22 .. 11-28) against W47: everything fell to zero.
    result = run("weekly-trend-reports", utc(2026, 11, 29, 1), config={"top_movers": 1})
    body = json.loads((settings.reports_dir / "weekly-2026-W48.json").read_text())
    assert body["overall"]["active_students"] == change(0, 3)
    assert [m["course_id"] for m in body["top_movers"]["down"]] == [1]
    assert result["courses"] == 4  # Drawing exists by then
    with pytest.raises(ConfigError, match="top_movers"):
        run("weekly-trend-reports", AFTER_W47, config={"top_movers": "many"})


def test_weekly_rerun_rewrites_files_in_place(
    data: Engine, run: Runner, settings: Settings
) -> None:
    run("weekly-trend-reports", AFTER_W47)
    first = {f.name: f.read_bytes() for f in settings.reports_dir.iterdir()}
    run(
        "weekly-trend-reports", utc(2026, 11, 23, 9), day=date(2026, 11, 15)
    )  # backfill of the same week
    assert {f.name: f.read_bytes() for f in settings.reports_dir.iterdir()} == first
    assert sorted(first) == ["weekly-2026-W47.json", "weekly-2026-W47.md"]
    assert [(r["kind"], r["period"], r["created_at"]) for r in rows(data, p.reports)] == [
        ("weekly", "2026-W47", utc(2026, 11, 23, 9))
    ]


# --- monthly-executive-summaries ---------------------------------------------------------


def test_monthly_summary_numbers(data: Engine, run: Runner, settings: Settings) -> None:
    result = run("monthly-executive-summaries", utc(2026, 12, 1, 2, 0, 7), slot=utc(2026, 12, 1, 2))
    assert result == {
        "period": "2026-11",
        "start": "2026-11-01T00:00:00+00:00",
        "end": "2026-12-01T00:00:00+00:00",
        "total_users": 5,
        "active_users": 3,
        "signups": 2,
        "enrollments": 4,
        "completions": 2,
        "time_spent_seconds": 1360,
        "top_courses": 2,
        "files": [
            str(settings.reports_dir / "monthly-2026-11.md"),
            str(settings.reports_dir / "monthly-2026-11.json"),
        ],
    }
    body = json.loads((settings.reports_dir / "monthly-2026-11.json").read_text())
    assert body["kpis"] == {
        "total_users": change(5, 3),
        "active_users": change(3, 0),
        "signups": change(2, 2),
        "verified_share": change(4 / 5, 3 / 3),
        "enrollments": change(4, 1),
        "completions": change(2, 0),
        "completion_rate": change(2 / 6, 0 / 2),
        "time_spent_seconds": change(1360, 0),
    }
    assert body["top_courses"] == [
        {
            "course_id": 1,
            "title": "Algebra",
            "active_students": 2,
            "active_students_previous": 0,
            "enrollments": 1,
            "completions": 1,
            "completion_rate": 1 / 3,
            "time_spent_seconds": 1120,
        },
        {
            "course_id": 2,
            "title": "Biology",
            "active_students": 2,
            "active_students_previous": 0,
            "enrollments": 3,
            "completions": 1,
            "completion_rate": 1 / 3,
            "time_spent_seconds": 240,
        },
    ]
    markdown = (settings.reports_dir / "monthly-2026-11.md").read_text()
    assert markdown.startswith(
        "# Executive summary 2026-11\n\nMonth: 2026-11-01 to 2026-11-30 (UTC), "
        "compared with 2026-10."
    )
    assert "| Verified share | 80.0% | 100.0% | -20.0 pp |" in markdown
    assert "| Time spent | 0.4 h | 0.0 h | +0.4 h (new) |" in markdown
    assert "| 1 | Algebra | 2 | 1 | 1 | 33.3% | 0.3 h |" in markdown


def test_monthly_backfill_limit_and_empty_month(
    data: Engine, run: Runner, settings: Settings
) -> None:
    result = run(
        "monthly-executive-summaries", AFTER_W47, day=date(2026, 10, 31), config={"top_courses": 1}
    )
    # October against September: u1, u2 signed up; e1 enrolled; no events.
    assert (
        result["period"],
        result["total_users"],
        result["signups"],
        result["enrollments"],
        result["active_users"],
        result["top_courses"],
    ) == ("2026-10", 3, 2, 1, 0, 0)
    result = run("monthly-executive-summaries", utc(2026, 12, 1, 2), config={"top_courses": 1})
    assert result["top_courses"] == 1
    empty = run("monthly-executive-summaries", AFTER_W47, day=date(2025, 1, 15))
    assert {k: v for k, v in empty.items() if k not in ("files", "start", "end")} == {
        "period": "2025-01",
        "total_users": 0,
        "active_users": 0,
        "signups": 0,
        "enrollments": 0,
        "completions": 0,
        "time_spent_seconds": 0,
        "top_courses": 0,
    }
    assert sorted(f.name for f in settings.reports_dir.iterdir()) == [
        "monthly-2025-01.json",
        "monthly-2025-01.md",
        "monthly-2026-10.json",
        "monthly-2026-10.md",
        "monthly-2026-11.json",
        "monthly-2026-11.md",
    ]
    with pytest.raises(UsageError, match="has not ended"):
        run("monthly-executive-summaries", AFTER_W47, day=date(2026, 11, 2))


# --- dry runs ----------------------------------------------------------------------------


def test_dry_run_writes_nothing(data: Engine, run: Runner, settings: Settings) -> None:
    now = utc(2026, 12, 1, 2, 0, 7)
    hourly = run("hourly-metrics", now, params={"hour": "2026-11-20T13"}, dry_run=True)
    assert (
        hourly["events"],
        hourly["active_users"],
        hourly["rows_written"],
        hourly["dry_run"],
    ) == (4, 2, 0, True)
    daily = run("daily-analytics-updates", now, day=date(2026, 11, 20), dry_run=True)
    assert daily == {
        "day": "2026-11-20",
        "course_rows": 3,
        "student_rows": 2,
        "active_students": 2,
        "events": 6,
        "time_spent_seconds": 780,
        "dry_run": True,
    }
    weekly = run("weekly-trend-reports", now, day=date(2026, 11, 20), dry_run=True)
    assert (weekly["active_students"], weekly["files"], weekly["dry_run"]) == (3, [], True)
    monthly = run("monthly-executive-summaries", now, dry_run=True)
    assert (monthly["total_users"], monthly["files"], monthly["dry_run"]) == (5, [], True)
    for table in p.STATS_TABLES:
        assert rows(data, table) == [], table.name
    assert not settings.reports_dir.exists()


# --- period rules ------------------------------------------------------------------------


def ctx_at(settings: Settings, reference: datetime, day: date | None = None) -> TaskContext:
    return TaskContext(
        task="t", settings=settings, config={}, now=utc(2030, 1, 1), slot=reference, date=day
    )


def test_period_rules(tmp_path: Path) -> None:
    settings = load_settings(environ={"CRONKIT_HOME": str(tmp_path)})
    # Weeks run Sunday to Saturday; a Sunday run covers the 7 days before it.
    sunday = ctx_at(settings, utc(2026, 11, 22, 1))
    assert (a.week_to_compute(sunday).start, a.week_to_compute(sunday).key) == (
        utc(2026, 11, 15),
        "2026-W47",
    )
    wednesday = ctx_at(settings, utc(2026, 11, 25, 9))
    assert a.week_to_compute(wednesday).start == utc(2026, 11, 15)
    for day in (date(2026, 11, 15), date(2026, 11, 18), date(2026, 11, 21)):
        assert a.week_to_compute(ctx_at(settings, utc(2026, 11, 25), day)).start == utc(
            2026, 11, 15
        )
    # The week named after ISO week 1 of 2027 starts on Sunday 2027-01-03.
    new_year = a.week_to_compute(ctx_at(settings, utc(2027, 1, 10, 1)))
    assert (new_year.key, new_year.start, new_year.previous_key) == (
        "2027-W01",
        utc(2027, 1, 3),
        "2026-W53",
    )
    # Months: January's previous month is December of the year before.
    jan = a.month_to_compute(ctx_at(settings, utc(2027, 2, 1, 2)))
    assert (jan.key, jan.start, jan.end, jan.previous_key, jan.previous_start) == (
        "2027-01",
        utc(2027, 1, 1),
        utc(2027, 2, 1),
        "2026-12",
        utc(2026, 12, 1),
    )
    assert a.month_to_compute(ctx_at(settings, utc(2027, 6, 9), date(2028, 2, 29))).end == utc(
        2028, 3, 1
    )
    assert a.day_to_compute(ctx_at(settings, utc(2026, 11, 21, 0, 0))) == date(2026, 11, 20)
    assert a.hours_to_compute(ctx_at(settings, utc(2026, 11, 21, 0, 0))) == [utc(2026, 11, 20, 23)]
