"""The analytics tasks: hourly metrics, daily stats, weekly trend and monthly executive reports.

Every task lets the database aggregate (INSERT ... SELECT with GROUP BY, a handful of statements
per period) and replaces its period's rows inside one transaction, so a re-run leaves identical
rows and memory does not grow with the number of events. Periods are half-open UTC intervals
`[start, end)`; the README lists the exact period rule and every metric's definition.

One module per job, each task in its own module so that `cronkit run` imports only what the
task it runs needs (this file imports nothing):

- periods:       which hour, day, week or month a run covers
- sql:           the SQL building blocks the tasks share, and opening the platform database
- hourly:        hourly-metrics
- daily:         daily-analytics-updates
- kpis:          the figures the two reports show, and the current/previous change record
- window_stats:  the aggregates of a period and the one before it, overall and per course
- trend:         weekly-trend-reports (the report body)
- executive:     monthly-executive-summaries (the report body)
- markdown:      the Markdown rendering of both reports
- report_store:  storing a report (the `reports` row, the .md and .json files) and the run flow
"""
