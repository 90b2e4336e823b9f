"""What each setting means and, where it is computed, its default in words: the settings reference.

docs/gen/reference.py builds the reference page from cronkit/config/settings.py's declarations (the file
keys, the `CRONKIT_*` variables, the defaults written in `Settings`) and from this table; a setting
declared there and missing here fails the documentation build (`mkdocs build --strict`), so the
reference cannot fall behind the code. Nothing at run time imports this module.
"""

from __future__ import annotations

# setting -> (default in words, or "" to take the literal default of the Settings field; meaning)
SETTING_DOCS: dict[str, tuple[str, str]] = {
    "home": ("`$XDG_STATE_HOME/cronkit`, else `~/.local/state/cronkit`",
             "State directory: run log, locks, logs, reports, backups, install state."),
    "db_url": ("`sqlite:///<home>/cronkit.db`",
               "Run log: a SQLAlchemy URL (SQLite file, or PostgreSQL shared by several hosts)."),
    "app_db_url": ("`sqlite:///<home>/platform.db`", "Platform data the built-in tasks work on."),
    "redis_url": ("unset: no Redis", "Redis for leases, slot keys and the refresh tokens of session cleanup."),
    "environment": ("`development`", "Environment name: which tasks are scheduled here."),
    "registry": ("unset: the adopted crontab's file when there is one, else an error (exit 78) for every "
                 "command but `cronkit demo`, which uses `cronkit.tasks`",
                 "Task registry: `pkg.module`, `pkg.module:attr`, a `.py` path, `plugin:NAME`, "
                 "or several comma-separated."),
    "log_dir": ("`<home>/logs`", "Log directory: the tasks' logs (`<log_dir>/cronkit/<task>.log`) and "
                "what log pruning tends."),
    "reports_dir": ("`<home>/reports`", "Where the weekly and monthly reports are written."),
    "timezone": ("`UTC`", "Default zone of a task that names none (IANA name)."),
    "secret_key": ("unset: secret rotation refuses to run",
                   "Key that encrypts stored secrets (and, where enabled, run payloads)."),
    "runlog_retention_days": ("", "Runs older than this are pruned by `daily-log-pruning` "
                              "(not those with an open dead letter)."),
    "serve_host": ("", "Address `cronkit serve` listens on; a non-loopback one needs a token to exist."),
    "serve_port": ("", "Port `cronkit serve` listens on."),
    "health_public": ("", "`true`: `/health/deep` answers without a token (details reduced to up/down)."),
    "public_url": ("unset", "The service's address, used in links sent out (notifications)."),
    "registry_path": ("unset: the current directory, then the interpreter's path",
                      "Directory a registry module is imported from first; `install` records it "
                      "so that cron runs import the same module."),
    "metrics_dir": ("`<home>/metrics`", "Where `cronkit_<task>.prom` files for node_exporter are written."),
    "spread_seed": ("unset", "Mixed into the hash that resolves `H` schedule parts."),
    "check_schedule": ("`*/5 * * * *`", "When the block's `cronkit check` line runs (host's zone)."),
    "adopted": ("`<home>/adopted.py`", "The registry file `cronkit adopt` writes, loaded with the "
                "registries whenever it exists."),
    "encrypt_payloads": ("", "`true`: a run's params, result, error, traceback and output are stored encrypted "
                         "under `secret_key` ([encrypted payloads](../encryption.md))."),
    "previous_secret_key": ("unset", "The key before the current one: values sealed under it still open "
                            "until `cronkit rekey` has run."),
    "auto_sync": ("", "`true`: the block's `cronkit check` reinstalls the block when the registry renders "
                  "other lines ([runtime control](../runtime-control.md))."),
    "environments": ("unset", "Environment names known besides the tasks' own and `development`: "
                     "`install` refuses any other ([safe by default](../safe-defaults.md))."),
    "insights_critical_unhealthy": ("", "`true`: a `critical` insight makes `health` unhealthy "
                                    "([insights](../insights.md))."),
    "serve_header_timeout": ("", "Seconds `cronkit serve` waits for a request's head before answering 408 "
                             "([input limits](../input-limits.md))."),
    "serve_refresh": ("", "Seconds between the dashboard's refreshes of a page's live part (1 to 3600)."),
    "stop_grace": ("", "Seconds between SIGTERM and SIGKILL when a task is stopped "
                   "(timeout, signal, lost lease)."),
    "lease_ttl": ("", "Seconds a Redis lease lives without renewal; renewed every third of it. "
                  "The same on every host."),
    "hostname": ("`socket.gethostname()`", "Host name recorded and compared in runs, leases and slots: "
                 "set it where host names change with every container start."),
    "now": ("unset: the real clock", "An ISO instant every command takes as now: try `due`, `check` "
            "and catch-up without waiting. Never written into a crontab."),
    "crontab_command": ("`crontab`", "The crontab command (another implementation, a file-backed fake "
                        "for trials and tests)."),
    "cron_d": ("", "The cron.d directory `--target cron.d` writes into."),
    "debug": ("", "`1`: errors print their traceback (as `--debug`)."),
    "finish_retry": ("", "Seconds the end of a run retries a run log that does not take it, "
                     "before journaling the outcome."),
    "heartbeat_interval": ("", "Seconds between a run's heartbeats; only shorter (tests): other hosts "
                           "take a run whose heartbeat is 2 minutes old for lost."),
    # Keys of the config file only (tables and file paths).
    "tasks": ("", "`[tasks.<name>]` tables: each task's own settings (`ctx.config`), `enabled`, "
              "`notify`, `max_duration`, `min_duration`."),
    "kubernetes": ("", "`[kubernetes]`: image, namespace, Secret, resources of rendered CronJobs."),
    "systemd": ("", "`[systemd]`: unit prefix, `User=`, `EnvironmentFile=` of rendered units."),
    "notify": ("", "`[notify]` default list and `[notify.<name>]` notifier tables."),
    "emf_file": ("unset", "CloudWatch Embedded Metric Format file: one line appended per run."),
    "secret_env": ("", "`[secret_env]`: values of the variables notifiers read secrets from "
                   "(the process environment wins)."),
}

# Variables read outside the Settings object, with their meaning.
OTHER_VARIABLES: dict[str, str] = {
    "CRONKIT_CONFIG": "The config file, when `--config` is not given (else `./cronkit.toml` if present).",
}

# Variables `cronkit run` sets for a command task (`registry.command`), which the command may read.
COMMAND_TASK_VARIABLES: dict[str, str] = {
    "CRONKIT_TASK": "The task's name.",
    "CRONKIT_RUN_ID": "The run's id in the run log.",
    "CRONKIT_ATTEMPT": "The attempt's number, from 1.",
    "CRONKIT_SLOT": "The scheduled instant a cron run serves (ISO 8601), when it has one.",
    "CRONKIT_DATE": "`--date`, when given.",
    "CRONKIT_PARAM_<NAME>": "Each `--param name=value`, the name upper-cased.",
}
