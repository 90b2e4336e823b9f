"""The learning platform's built-in tasks (SPEC section 9).

Targets are lazy "module:function" strings naming the module of one task:
`cronkit run hourly-metrics` imports cronkit.tasks.analytics.hourly (and the few modules it
uses) and no other task's module, and `cronkit list` imports no task module at all.
"""

from cronkit.registry import Registry
from cronkit.registry.params import Param

registry = Registry(id="cronkit.tasks")

PRODUCTION = ("production",)
PROD_AND_STAGING = ("production", "staging")

registry.add(
    "0 * * * *", "cronkit.tasks.analytics.hourly:hourly_metrics",
    name="hourly-metrics", timezone="UTC", environments=PRODUCTION,
    timeout="15m", retries=2, backoff="30s", redis_fallback=True,
    description="Platform metrics for the previous full hour",
    defaults={"batch_size": 10_000},
    params={"hour": Param("hour", "compute this one hour (UTC unless an offset is given)", past=True)},
    dates="past",
)
registry.add(
    "0 0 * * *", "cronkit.tasks.analytics.daily:daily_analytics_updates",
    name="daily-analytics-updates", timezone="UTC", environments=PROD_AND_STAGING,
    timeout="1h", retries=3, backoff="30s", redis_fallback=True,
    description="Per-course and per-student stats for the previous UTC day",
    defaults={"batch_size": 10_000},
    params={}, dates="ended",
)
registry.add(
    "0 1 * * 0", "cronkit.tasks.analytics.trend:weekly_trend_reports",
    name="weekly-trend-reports", timezone="UTC", environments=PRODUCTION,
    timeout="1h", retries=3, backoff="30s", redis_fallback=True,
    description="Week-over-week trend report for the previous 7 days",
    defaults={"top_movers": 5},
    params={}, dates="past",
)
registry.add(
    "0 2 1 * *", "cronkit.tasks.analytics.executive:monthly_executive_summaries",
    name="monthly-executive-summaries", timezone="UTC", environments=PRODUCTION,
    timeout="2h", retries=3, backoff="30s", redis_fallback=True,
    description="KPI summary of the previous calendar month",
    defaults={"top_courses": 10},
    params={}, dates="past",
)
registry.add(
    "0 3 * * *", "cronkit.tasks.sessions:daily_session_cleanup",
    name="daily-session-cleanup", timezone="UTC", environments=PROD_AND_STAGING,
    timeout="30m", retries=3, backoff="30s", redis_fallback=True,
    description="Expired refresh tokens, stale unverified accounts, old password reset tokens",
    defaults={
        "expired_token_retention_days": 7,
        "unverified_account_retention_days": 30,
        "password_reset_token_retention_hours": 24,
        "batch_size": 1000,
    },
    params={"user_id": Param("int", "clean up this one user's sessions only", min=1)},
    dates="none",
)
registry.add(
    "0 4 * * *", "cronkit.tasks.logs.task:daily_log_pruning",
    name="daily-log-pruning", timezone="UTC", environments=PROD_AND_STAGING,
    timeout="30m", retries=1, backoff="30s", lock_scope="local",
    description="Delete, compress, rotate and cap log files in the log directory",
    defaults={
        "retention_days": 30,
        "max_file_size_mb": 100,
        "max_files": 10,
        "compress_old_logs": True,
    },
    params={}, dates="none",
)
registry.add(
    "0 5 * * *", "cronkit.tasks.secret_rotation:secret_rotation",
    name="secret-rotation", timezone="UTC", environments=PRODUCTION,
    timeout="10m", retries=2, backoff="10s",
    description="Rotate secrets past their rotation date, retire old versions after a grace period",
    defaults={"grace_period_hours": 24, "rotation_interval_days": 30},
    params={}, dates="none", requires=("setting:secret_key",),
)
