"""A TCP proxy the fault tests control: pass bytes through, stall (keep the sockets, pass nothing), or drop."""

from __future__ import annotations

import select
import socket
import threading
import time

from tests.conftest import free_port


class Proxy:
    """Listen on 127.0.0.1:<port> and relay to `upstream`; `mode` is "pass", "stall" or "drop".

    stall: every connection stays open and nothing moves either way (a peer that stopped answering
    without a reset); drop: every connection is closed and new ones are closed at once.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.mode = "pass"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, pg_url: str) -> str:
        """Return `pg_url` with its host and port replaced by this proxy's."""
        scheme, rest = pg_url.split("://", 1)
        auth, _, tail = rest.partition("@")
        path = tail.split("/", 1)[1]
        return f"{scheme}://{auth}@127.0.0.1:{self.port}/{path}"

    def set(self, mode: str) -> None:
        with self._lock:
            self.mode = mode
            if mode == "drop":
                for conn in self._conns:
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    conn.close()
                self._conns.clear()

    def close(self) -> None:
        self._closed = True
        self.set("drop")
        self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.mode == "drop":
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        while True:
            try:
                ready, _, _ = select.select([a, b], [], [], 0.05)
            except (OSError, ValueError):
                return
            if self.mode == "stall":
                time.sleep(0.05)  # hold both sockets; read nothing, send nothing
                continue
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for s in (a, b):
                        s.close()
                    return
                try:
                    peer[sock].sendall(data)
                except OSError:
                    return
