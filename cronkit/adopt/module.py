"""Write adopted jobs as a registry file: a plain Python module a person reads, edits and commits."""

from __future__ import annotations

from cronkit.adopt.plan import AdoptedJob

MARK = "Written by `cronkit adopt`"
ADOPTED_TIMEOUT = "24h"  # cron never stopped a job; the task's timeout is a day until someone says less


def module_text(jobs: list[AdoptedJob], where: str, zone: str, when: str) -> str:
    """Return a new registry module holding `jobs`, adopted from `where` (a crontab) on `when`."""
    head = f'''"""Jobs adopted from {_docstring(where)} ({when}). {MARK}.

Each registration below was one line of that crontab; `cronkit run` now runs it from cronkit's
block, with the schedule as Debian's cron read it (in the host's zone, {zone}), the same shell,
and the environment the crontab gave it. cron never stopped a job: each has a timeout of
{ADOPTED_TIMEOUT}, and like every task it is a singleton (a run is skipped while the previous one
still runs). Edit freely (timeout=, retries=, retry_codes=, cwd=...), then run `cronkit install`.
`cronkit adopt --undo` puts the crontab back as it was.
"""

from cronkit import Registry

registry = Registry()
'''
    return head + registrations(jobs, where, zone)


def registrations(jobs: list[AdoptedJob], where: str, zone: str) -> str:
    """Return the `registry.command(...)` calls of `jobs`, each under a comment naming its line."""
    out: list[str] = []
    for job in jobs:
        env = "".join(f"        {_literal(k)}: {_literal(v)},\n" for k, v in job.env.items())
        out.append(
            f"\n\n# line {job.line.number} of {_comment(where)}: {_comment(job.line.text)}\n"
            "registry.command(\n"
            f"    {_literal(job.schedule)},\n"
            f"    {_literal(job.command)},\n"
            f"    name={_literal(job.name)},\n"
            f"    shell={_literal(job.shell)},\n"
            f"    env={{\n{env}    }},\n"
            f"    timezone={_literal(zone)},\n"
            '    environments="*",\n'
            f"    timeout={_literal(ADOPTED_TIMEOUT)},\n"
            ")\n"
        )
    return "".join(out)


def _literal(text: str) -> str:
    """Return a Python string literal for `text`: double quotes, escapes for what is not printable."""
    body = repr(text)
    if body.startswith("'") and '"' not in text:
        body = '"' + body[1:-1].replace("\\'", "'") + '"'
    return body


def _comment(text: str) -> str:
    """Return `text` safe in a comment: control characters and undecodable bytes as escapes."""
    return "".join(ch if ch == "\t" or (" " <= ch != "\x7f" and not "\udc80" <= ch <= "\udcff")
                   else repr(ch)[1:-1] for ch in text)


def _docstring(text: str) -> str:
    """Return `text` safe in a docstring too: its backslashes and quotes escaped."""
    return _comment(text).replace("\\", "\\\\").replace('"', '\\"')
