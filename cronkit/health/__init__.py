"""See into the scheduler: probes of its services, missed slots, status, the health verdict, stats.

Library only: nothing here prints, and time is passed in (`now`, a UTC-aware datetime).

- `probes`: bounded calls (a daemon thread joined with a deadline) and the service probes
- `missed`: which slots of a task were due and which no run served
- `status`: `status()` -> StatusReport, the state `cronkit status` shows
- `verdict`: the reasons a status is unhealthy, and `health_report()` behind `cronkit health`
- `stats`: per-task figures behind `cronkit stats`

The SQL these read is in `cronkit.runlog.queries`. Drift of the installed block lives with the block, in `cronkit.cronfile.drift`.
"""
