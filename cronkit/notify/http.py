"""POST a body with a short timeout, with the standard library (no HTTP client on the run path)."""

from __future__ import annotations

from collections.abc import Mapping


class DeliveryError(Exception):
    """A notification could not be delivered; the message says why, in one line."""


def post(url: str, data: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST `data` to `url`; return the status, raise DeliveryError unless it is 2xx."""
    import urllib.error
    import urllib.request

    from .. import __version__

    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"User-Agent": f"cronkit/{__version__}", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only: settings)
            response.read(4096)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {_where(url)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {_where(url)}: {reason}") from None


def _where(url: str) -> str:
    """Return scheme://host[:port] of a URL: ping URLs carry their check's secret UUID in the path."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
