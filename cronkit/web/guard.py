"""Bound what a request's head may cost the service: its size and the time it takes to arrive.

uvicorn's httptools protocol has neither bound: a 100 MiB header was read (for 33 s, growing the
process by 84 MiB, stalling other clients while httptools joined its pieces) and answered, and a
connection that sends half a request head was held for ever (150 of them held indefinitely). The
h11 protocol bounds the size only (`h11_max_incomplete_event_size`); neither bounds the time.

So the service runs uvicorn's httptools protocol with two guards, counted per request head:
- past MAX_HEAD_BYTES before the blank line that ends the head: 431, and the connection closes;
- a head not complete `header_timeout` seconds after the connection opened or the request's first
  byte arrived: 408, and the connection closes.
Once the head is complete the application has the request, as before (bodies are bounded by
the routes that read them, bodies.MAX_BODY).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cronkit.web.problems import CONTENT_TYPE, problem_body

MAX_HEAD_BYTES = 64 * 1024  # the request line and every header; browsers send a few KiB
DEFAULT_HEADER_TIMEOUT = 10.0  # seconds from a request's first byte (or the connection) to its blank line
_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def _answer(status: int, kind: str, detail: str) -> bytes:
    """Return a whole HTTP response with a problem body, ending the connection."""
    body = json.dumps(problem_body(status, kind, detail)).encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], CONTENT_TYPE.encode(), len(body))) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a bound on a request head's size and on its arrival time."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    max_head_bytes: int = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True  # no head complete since the connection or the last response
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head:
            before = self._head_bytes
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                end = data.find(b"\r\n\r\n")
                if end < 0 or before + end + 4 > self.max_head_bytes:
                    self._refuse(431, "header-too-large",
                                 f"a request's line and headers are limited to {self.max_head_bytes} bytes")
                    return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            self._refuse(408, "header-timeout",
                         f"the request's line and headers did not arrive within {self.header_timeout:g} s")

    def _refuse(self, status: int, kind: str, detail: str) -> None:
        self._refused = True
        self._disarm()
        self.logger.warning("Refused a request: %s", detail)
        if not self.transport.is_closing():
            self.transport.write(_answer(status, kind, detail))
            self.transport.close()


def guarded_protocol(header_timeout: float, max_head_bytes: int = MAX_HEAD_BYTES) -> type[GuardedHttpToolsProtocol]:
    """Return the protocol class uvicorn builds each connection's protocol from, with these bounds."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"header_timeout": header_timeout, "max_head_bytes": max_head_bytes})


__all__ = ["DEFAULT_HEADER_TIMEOUT", "MAX_HEAD_BYTES", "GuardedHttpToolsProtocol", "guarded_protocol"]
