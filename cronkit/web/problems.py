"""RFC 9457 problem details: every 4xx and 5xx answer of the service is one of these."""

from __future__ import annotations

from typing import Any

from cronkit.web.jsonout import SafeJSONResponse

PROBLEM_TYPE_BASE = "https://cronkit.invalid/problems/"
CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    431: "Request header fields too large",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """An error answer: status, a short `type` slug, a detail for people, extra members."""

    def __init__(self, status: int, kind: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.extra = extra
        self.refusal = False  # a refusal of what the token may not do or see: the answer writes an audit row

    def refused(self) -> Problem:
        """Mark this problem a refusal (SPEC 18: every refusal is an audit row); return it."""
        self.refusal = True
        return self

    def body(self) -> dict[str, Any]:
        """Return the problem JSON object."""
        return {"type": PROBLEM_TYPE_BASE + self.kind, "title": TITLES.get(self.status, "Error"),
                "status": self.status, "detail": self.detail, **self.extra}

    def response(self, headers: dict[str, str] | None = None) -> SafeJSONResponse:
        """Return the answer, with `WWW-Authenticate` on a 401, and `Connection: close` on a 408 or a
        413: the request's body was not read to its end, so the connection cannot carry another
        request (RFC 9110 15.5.9), and a client left waiting for the rest of it learns at once."""
        headers = dict(headers or {})
        if self.status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="cronkit"')
        if self.status in (408, 413):
            headers.setdefault("Connection", "close")
        return SafeJSONResponse(self.body(), status_code=self.status, headers=headers, media_type=CONTENT_TYPE)


def problem_body(status: int, kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    """Return a problem JSON object without raising."""
    return Problem(status, kind, detail, **extra).body()


__all__ = ["CONTENT_TYPE", "Problem", "problem_body"]
