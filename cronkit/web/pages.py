"""The HTML pages of the dashboard (issue 18): their routes go here, templates in `templates/`.

None yet. The pages are to call the same library functions as `api` and take the same `read`
token (or a session built on it); `routes()` is mounted by `app.create_app` after the API's.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    """Return the page routes; none yet."""
    return []


__all__ = ["routes"]
