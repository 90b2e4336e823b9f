"""`cronkit serve`: the HTTP service (SPEC section 10). Starlette, served by uvicorn.

Nothing on the `cronkit run` path imports this package: cron's runs never load the HTTP stack.

- `app`: the Starlette application, its shared state (engine, caches) and its lifespan
- `service`: what every request shares (the `Service`, its status cache, its timings)
- `access`: who calls and what they may do: bearer tokens, scopes, the audit row of a refusal
- `api`: the JSON routes (health, status, tasks, runs, dead letters, audit, triggers, metrics)
- `bodies`: a trigger's request body: bounded, validated, checked against the task's declared params
- `cache`: the run log's version and the caches of answers keyed on it
- `auth`: API tokens: creation (a hash stored, never the token), scopes, constant-time checks
- `audit`: the audit trail of triggers and token changes
- `trigger`: starting a run as a detached `cronkit run --trigger api`, idempotent and audited
- `health`: the bounded `/health/deep` verdict with per-component timings
- `metrics`: a Prometheus collector computing the metrics from the run log at scrape time
- `problems`: RFC 9457 problem JSON for every error answer
- `pages`: the dashboard's HTML pages (templates/, static/); `views` reads what they show,
  `chart` draws the duration chart (SVG), `session` signs sessions and checks CSRF tokens
"""
