"""POST a body with a short timeout, with the standard library (no HTTP client on the run path).

A URL's `user:password@` is sent as HTTP Basic auth, as curl and httpx do (urllib would take it
for part of the host name), and never appears in a message: they name scheme://host[:port] only.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

from cronkit.version import __version__


class DeliveryError(Exception):
    """A notification could not be delivered; the message says why, in one line."""


class FinalDeliveryError(DeliveryError):
    """A notification the receiver refuses for good (no such check): not tried again."""


def post(url: str, data: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST `data` to `url`; return the status, raise DeliveryError unless it is 2xx."""
    return post_response(url, data, headers, timeout)[0]


def post_response(url: str, data: bytes, headers: Mapping[str, str], timeout: float,
                  method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    """Send `data` to `url`; return the status, the answer's headers and the start of its body
    (64 KiB at most); raise DeliveryError unless the status is 2xx."""
    # lazy: urllib.request (http.client, email parsing) only when a notification is sent
    import urllib.error
    import urllib.request


    target, auth = split_credentials(url)
    try:
        request = urllib.request.Request(target, data=data, method=method,
                                         headers={"User-Agent": f"cronkit/{__version__}", **headers})
        if auth is not None:
            # Unredirected, as curl: a redirect (maybe to another host) does not carry the credentials.
            request.add_unredirected_header("Authorization", auth)
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only: settings)
            answer = response.read(64 * 1024)
            return int(response.status), dict(response.headers.items()), answer
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} from {where(url)}{_auth_hint(exc.code, auth)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):  # the library says "timed out", "read timed out"...
            reason = f"no answer within {timeout:g} s"
        raise DeliveryError(f"cannot reach {where(url)}: {reason}") from None
    except ValueError:  # http.client.InvalidURL and kin quote the URL: say it without it
        raise DeliveryError(f"cannot send to {where(url)}: the URL is not valid") from None


def split_credentials(url: str) -> tuple[str, str | None]:
    """Return `url` without its `user:password@` and the Basic Authorization value they make (or None)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=hostport)), basic_auth(userinfo)


def basic_auth(userinfo: str) -> str:
    """Return the Authorization value of a URL's `user[:password]`, percent-escapes decoded (RFC 7617)."""
    user, _, password = userinfo.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def where(url: str) -> str:
    """Return scheme://host[:port] of a URL: no credentials, no path (ping URLs carry a secret UUID there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _auth_hint(code: int, auth: str | None) -> str:
    if code != 401:
        return ""
    return " (it refused the user and password of the URL)" if auth else " (it wants HTTP Basic auth; put user:password@ before the host in the URL)"
