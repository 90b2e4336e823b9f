"""Real receivers on loopback for the notification tests: an HTTP server and an SMTP server that record."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request the HTTP receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)


def basic(user: str, password: str) -> str:
    """Return the Authorization value of HTTP Basic auth, built here from the RFC (not cronkit's code)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class HttpReceiver:
    """A threaded HTTP server on 127.0.0.1 that records every request; `hang` makes it never answer.

    With `basic` set to (user, password) it answers 401 to a request without that Basic auth.
    """

    def __init__(self, port: int = 0) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self.basic: tuple[str, str] | None = None
        self.hang = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                receiver.requests.append(Request("POST", self.path, dict(self.headers.items()), data))
                if receiver.hang.is_set():
                    receiver.release.wait(60)
                    return
                if receiver.basic is not None and self.headers.get("Authorization") != basic(*receiver.basic):
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="hooks"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                receiver.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = port
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]
