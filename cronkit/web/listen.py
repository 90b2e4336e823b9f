"""Bind the service's sockets before uvicorn starts, so a port in use is one line and exit 69.

uvicorn binds inside its own start-up: a busy port there is a handful of log lines (started,
the bind error, shut down) and exit 3. cronkit binds the addresses itself, as asyncio's
`create_server` would (every address the host names, SO_REUSEADDR, IPv6 sockets v6-only), turns a
failure into a CronkitError, and hands uvicorn the listening sockets.
"""

from __future__ import annotations

import errno
import logging
import socket

import uvicorn

from cronkit.errors import ConfigError, CronkitError, ServiceUnavailable

BACKLOG = 2048  # uvicorn's default
# Retrying may help (another process holds the port, the interface is not up yet): exit 69, which
# the rendered systemd unit restarts on. Anything else is a setting to fix: exit 78.
TRANSIENT = {errno.EADDRINUSE, errno.EADDRNOTAVAIL}


def hostport(host: str, port: int) -> str:
    """Return HOST:PORT as a person writes it ([::1]:8765 for IPv6, *:8765 for every address)."""
    host = host or "*"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(host: str, port: int, backlog: int = BACKLOG) -> list[socket.socket]:
    """Return listening sockets on every address of `host` ("" or 0.0.0.0: all); raise a CronkitError."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = socket.getaddrinfo(name or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"serve: cannot listen on {hostport(name, port)}: {_reason(exc)}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):  # no duplicates, in order
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:
                continue  # a family this host cannot open (IPv6 disabled): as asyncio, use the others
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        cls: type[CronkitError] = ServiceUnavailable if exc.errno in TRANSIENT else ConfigError
        raise cls(f"serve: cannot listen on {hostport(name, port)}: {_reason(exc)}") from None
    if not sockets:
        raise ConfigError(f"serve: cannot listen on {hostport(name, port)}: no address this host can open")
    return sockets


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


class Server(uvicorn.Server):
    """uvicorn's server on sockets bound beforehand; it says where it listens, as uvicorn does for a host."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            scheme = "https" if self.config.ssl else "http"
            for sock in sockets or []:
                address, port = sock.getsockname()[:2]
                logging.getLogger("uvicorn.error").info("Uvicorn running on %s://%s (Press CTRL+C to quit)",
                                                        scheme, hostport(address, port))


def run(config: uvicorn.Config, sockets: list[socket.socket]) -> None:
    """Serve `config`'s application on `sockets` until SIGTERM or SIGINT; close them after."""
    try:
        Server(config).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()


__all__ = ["Server", "hostport", "listen", "run"]
