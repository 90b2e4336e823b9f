"""A stand-in for a healthchecks server on loopback, following its documented semantics:

- pings `POST /ping/<uuid>[/start|/fail|/log|/<exit status>]` and the slug form
  `/ping/<ping-key>/<slug>[/...]` (`?create=1` creates an unknown slug's check); `?rid=` pairs a
  start with its end; an unknown check is 404 "not found"; every answer says `Ping-Body-Limit`
  and the server keeps the FIRST that many bytes of a longer body;
- a check is `up` after a success (`/` or `/0`), `down` after `/fail` or a non-zero exit status,
  `started` after `/start`; `/log` records an event and changes nothing;
- API v3 `POST /api/v3/checks/` (create; with `unique` an existing match is updated, 200) and
  `POST /api/v3/checks/<uuid>` (update), both needing `X-Api-Key`.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PING_BODY_LIMIT = 10_000
API_KEY = "hc-api-key-0123456789"
PING_KEY = "pingkey01"


@dataclass
class Check:
    uuid: str
    slug: str | None = None
    status: str = "new"
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ping:
    check: str
    kind: str  # start, success, fail, log, exit status as text
    rid: str | None
    body: bytes


class HealthchecksServer:
    def __init__(self) -> None:
        self.checks: dict[str, Check] = {}
        self.pings: list[Ping] = []
        self.statuses: list[tuple[str, str]] = []  # (check, status) after every ping that changed it
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                with server.lock:
                    if parts.path.startswith("/api/v3/checks"):
                        code, answer = server.api(parts.path, self.headers.get("X-Api-Key"), data)
                    else:
                        code, answer = server.ping(parts.path, query, data)
                body = json.dumps(answer).encode() if not isinstance(answer, bytes) else answer
                self.send_response(code)
                self.send_header("Ping-Body-Limit", str(PING_BODY_LIMIT))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, slug: str | None = None) -> Check:
        check = Check(str(uuid.uuid4()), slug)
        self.checks[check.uuid] = check
        return check

    def by_slug(self, slug: str) -> Check | None:
        return next((c for c in self.checks.values() if c.slug == slug), None)

    def ping(self, path: str, query: dict[str, str], data: bytes) -> tuple[int, Any]:
        words = path.strip("/").split("/")[1:]  # after "ping"
        check: Check | None = None
        if words and words[0] in self.checks:
            check, rest = self.checks[words[0]], words[1:]
        elif len(words) >= 2 and words[0] == PING_KEY:
            check, rest = self.by_slug(words[1]), words[2:]
            if check is None and query.get("create") == "1":
                check = self.add(words[1])
        if check is None or len(rest) > 1:
            return 404, b"not found"
        kind = rest[0] if rest else "success"
        self.pings.append(Ping(check.uuid, "success" if kind == "0" else kind, query.get("rid"), data[:PING_BODY_LIMIT]))
        new = {"start": "started", "log": None, "success": "up", "0": "up", "fail": "down"}.get(
            kind, "down" if kind.isdigit() else None)
        if new is not None:
            check.status = new
            self.statuses.append((check.uuid, new))
        return 200, b"OK"

    def api(self, path: str, key: str | None, data: bytes) -> tuple[int, Any]:
        if key != API_KEY:
            return 401, {"error": "missing api key"}
        spec = json.loads(data)
        target = path.rstrip("/").removeprefix("/api/v3/checks").strip("/")
        if target:
            check = self.checks.get(target)
            if check is None:
                return 404, {"error": "not found"}
            code = 200
        else:
            unique = spec.pop("unique", [])
            check = self.by_slug(spec.get("slug", "")) if "slug" in unique else None
            code = 200 if check is not None else 201
            if check is None:
                check = self.add(spec.get("slug"))
        check.spec.update({k: v for k, v in spec.items() if k != "unique"})
        if spec.get("slug"):
            check.slug = spec["slug"]
        ping = self.url(f"/ping/{PING_KEY}/{check.slug}") if check.slug else self.url(f"/ping/{check.uuid}")
        return code, {"name": check.spec.get("name"), "slug": check.slug, "ping_url": ping, **check.spec}

    def named(self, slug: str) -> Check:
        """Return the check of `slug`, which must exist."""
        check = self.by_slug(slug)
        assert check is not None, f"no check {slug!r}"
        return check

    def of(self, check: Check) -> list[Ping]:
        return [p for p in self.pings if p.check == check.uuid]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
