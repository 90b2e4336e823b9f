"""Tell someone: notifiers, their rules, the outbox, and metrics files (SPEC section 11).

- settings.py: the `[notify.<name>]` tables and the tasks' notify keys, validated;
- events.py: the event dict every channel renders; rules.py: which events a run raises;
- outbox.py: the notifications table (queued, delivered, owed); deliver.py: sending it, bounded;
- healthchecks.py, webhook.py, email.py, apprise_urls.py: the channels (imported when used);
- hook.py: what the runner calls before and after a run; promfile.py, emf.py: metrics files;
- families.py: the Prometheus families of the .prom files and /metrics alike; figures.py: their
  bounded reads of the run log (the run totals, a few indexed seeks).

The runner imports hook.py only when a notifier is configured, except for the metrics file.
"""
