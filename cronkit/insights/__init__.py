"""Insights (SPEC 16): failure seen coming, from the run log alone.

- `robust`: median/MAD, Theil–Sen, Mann–Kendall, the binomial tail (pure functions of numbers)
- the thresholds, their defaults and the `[tasks.NAME.insights]` table are settings: `cronkit.config.insights`
- `detect`: the six kinds of finding, each a pure function of a task's recent runs
- `read`: the bounded read of the run log and `insights()`, behind the CLI, status and the API
- `alerts`: the `insight` notification, once per new finding (raised by `cronkit check`)
- `words`: durations and sizes in a finding's message
"""
