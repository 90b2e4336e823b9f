"""A request head is bounded in size and in time (issue 25, web/guard.py), tried with raw sockets on
a real `cronkit serve`: a 100 MiB header is refused after its first 64 KiB, and connections that
never finish their head are closed, while other clients are answered meanwhile."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from cronkit.web.guard import MAX_HEAD_BYTES

from .serverkit import Server, Setup

HEADER_TIMEOUT = "1"  # seconds: CRONKIT_SERVE_HEADER_TIMEOUT of the server under test
UNFINISHED = 150


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    setup = Setup(tmp_path_factory.mktemp("heads"))
    setup.server.stop()
    setup.env["CRONKIT_SERVE_HEADER_TIMEOUT"] = HEADER_TIMEOUT
    setup.server = Server(setup.env, setup.root)
    yield setup
    setup.server.stop()


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Read until the server closes the connection (a reset counts as closed)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_100_mib_header_is_refused_early(site: Setup) -> None:
    sock = _connect(site.server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    chunk, sent, refused = b"a" * (1 << 20), 0, False
    try:
        while sent < 100 << 20:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        refused = True
    answer = b""
    if not refused:  # every byte fit in the socket buffers: the answer says what happened
        sock.shutdown(socket.SHUT_WR)
    answer = _read_all(sock)
    sock.close()
    # The server stopped reading after its 64 KiB (what was sent beyond sat in kernel buffers).
    assert refused or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert sent < 32 << 20, f"{sent >> 20} MiB were taken before the connection was refused"
    if answer:
        assert answer.startswith(b"HTTP/1.1 431 ") and b"application/problem+json" in answer
    assert httpx.get(site.server.url + "/healthz", timeout=30).status_code == 200


def test_a_head_just_under_the_bound_is_answered(site: Setup) -> None:
    filler = "a" * (MAX_HEAD_BYTES - 1024)
    answer = httpx.get(site.server.url + "/healthz", headers={"X-Filler": filler}, timeout=30)
    assert answer.status_code == 200
    sock = _connect(site.server)  # and a head past it, sent whole, is a 431 problem
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n")
    assert _read_all(sock).startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    sock.close()


def test_unfinished_heads_are_closed_and_stall_nobody(site: Setup) -> None:
    held = []
    for number in range(UNFINISHED):
        sock = _connect(site.server)
        if number % 3:  # two in three send half a head; the rest send nothing at all
            sock.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held.append(sock)
    # Another client is answered while they are open.
    for _ in range(5):
        assert httpx.get(site.server.url + "/healthz", timeout=30).status_code == 200
    # Each is closed by the server (no timing asserted: the reads wait for the close however long).
    answers = [_read_all(sock) for sock in held]
    for sock in held:
        sock.close()
    for number, answer in enumerate(answers):
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer[:100]
        if number % 3:
            assert answer.startswith(b"HTTP/1.1 408 ")
    assert httpx.get(site.server.url + "/healthz", timeout=30).status_code == 200


def test_a_head_that_trickles_in_is_cut_off(site: Setup) -> None:
    """One byte at a time keeps the connection busy but not the head complete: the bound is on the
    whole head's arrival, not on the gaps between bytes."""
    sock = _connect(site.server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    closed = False
    for _ in range(10_000):
        try:
            sock.sendall(b"X-A: b\r\n")
            sock.settimeout(0.05)
            if sock.recv(65536).startswith(b"HTTP/1.1 408"):
                closed = True
                break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    sock.close()
    assert closed


def test_a_body_that_never_arrives_is_408(site: Setup) -> None:
    """The head complete, the body promised and not sent: the trigger route (and the dashboard's
    forms, which read bodies the same way) answers 408 instead of waiting for ever."""
    sock = _connect(site.server)
    sock.sendall(b"POST /api/v1/tasks/quick/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                 + site.trigger.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"par")
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"body-timeout" in answer and b"\r\nconnection: close\r\n" in answer.lower()  # closed at once
    rows = site.sql("SELECT result, status_code FROM audit WHERE action = 'trigger' ORDER BY id DESC LIMIT 1")
    assert rows == [("refused", 408)]
    sock = _connect(site.server)
    sock.sendall(b"POST /signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\ncsrf=")
    assert _read_all(sock).startswith(b"HTTP/1.1 408 ")
    sock.close()
