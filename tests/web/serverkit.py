"""Start `cronkit serve` for real (uvicorn in a subprocess) on a home with tokens; a TCP proxy that stalls."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ..conftest import CRONKIT, free_port, run_cronkit, write_registry

SECRET_VALUE = "s3cr3t-value-never-shown-9f8e7d"

REGISTRY = '''
@registry.task("0 3 * * *", name="quick", environments=("*",))
def quick(ctx: TaskContext) -> dict:
    return {"params": dict(ctx.params), "dry_run": ctx.dry_run}

from cronkit.registry.params import Param

@registry.task("0 4 * * *", name="slow", environments=("*",), singleton=True, dates="none",
               params={"seconds": Param("float", "how long to sleep", min=0, max=30)})
def slow(ctx: TaskContext) -> dict:
    time.sleep(float(ctx.params.get("seconds", "4")))
    return {"slept": True}

@registry.task("0 5 * * *", name="leaky", environments=("*",))
def leaky(ctx: TaskContext) -> dict:
    print("the secret is", os.environ["CRONKIT_TEST_API_SECRET"])
    raise RuntimeError("failed with " + os.environ["CRONKIT_TEST_API_SECRET"])

@registry.task("0 6 * * *", name="broken", environments=("*",))
def broken(ctx: TaskContext) -> dict:
    raise ValueError("always broken")
'''


class Server:
    """A `cronkit serve` subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], cwd: Path, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            [CRONKIT, "serve", "--port", str(self.port), "--log-level", "warning", *args],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cronkit serve exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("cronkit serve did not start")

    def client(self, token: str | None = None, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cronkit(args, env, cwd)


def make_token(env: dict[str, str], cwd: Path, name: str, scope: str, *extra: str) -> str:
    flag = "--scope" if scope in ("read", "trigger") else "--role"  # the old scopes, or the roles
    proc = cli(env, cwd, "token", "create", name, flag, scope, "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["token"])


def wait_run(client: httpx.Client, run_id: int, timeout: float = 60) -> dict[str, Any]:
    """Poll a run until it is no longer running; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] != "running":
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still running")


class StallingProxy:
    """A TCP proxy to `upstream` that forwards until `stall()`, then holds every byte."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.stalled = threading.Event()
        self.closing = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.stalled.is_set() and not self.closing.is_set():
                    time.sleep(0.05)  # hold the bytes: the peer waits for an answer that does not come
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stall(self) -> None:
        self.stalled.set()

    def close(self) -> None:
        self.closing.set()
        self.sock.close()
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


def server_env(base: dict[str, str], registry: Path, **extra: str) -> dict[str, str]:
    env = dict(base)
    env.update({"CRONKIT_TASKS": str(registry), "CRONKIT_TEST_API_SECRET": SECRET_VALUE,
                "CRONKIT_STOP_GRACE": "1"})
    env.update(extra)
    return env


PROBLEM_KEYS = {"type", "title", "status", "detail"}


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert PROBLEM_KEYS <= set(body) and body["status"] == status
    assert "Traceback" not in response.text
    return dict(body)


class Setup:
    """A home with the test registry, an admin, a read and a trigger token, and a running server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        home = root / "home"
        home.mkdir()
        registry = write_registry(root / "api_tasks.py", REGISTRY)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CRONKIT_")}
        base.update({"CRONKIT_HOME": str(home), "HOME": str(root), "COLUMNS": "200"})
        base.pop("XDG_STATE_HOME", None)
        self.env = server_env(base, registry)
        self.db = home / "cronkit.db"
        self.admin = make_token(self.env, root, "ops-admin", "admin")
        self.read = make_token(self.env, root, "grafana", "read")
        self.trigger = make_token(self.env, root, "deployer", "trigger")
        self.server = Server(self.env, root)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(self.env, self.root, *args)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute(query, params))


def csrf_of(html: str) -> str:
    """Return the CSRF token of a dashboard form."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the form"
    return match.group(1)


__all__ = ["SECRET_VALUE", "Server", "Setup", "StallingProxy", "cli", "csrf_of", "is_problem", "make_token", "os",
           "server_env", "wait_run"]
