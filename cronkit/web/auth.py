"""API tokens: `ck_<lookup>_<secret>`, stored as a SHA-256 hash, checked in constant time.

A token is 32 random bytes: a fast hash is the right one (nothing to brute-force, unlike a
password), and the public `lookup` part finds the row without comparing secrets in SQL. Scopes
nest: `trigger` implies `read`, `admin` implies both; a `trigger` token may be limited to the
tasks matching a glob. Library only: the CLI prints, this module never does.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from ..errors import UsageError
from ..runlog.schema import api_tokens
from ..runlog.times import iso
from . import audit

SCOPES = ("read", "trigger", "admin")
IMPLIED: dict[str, tuple[str, ...]] = {
    "read": ("read",),
    "trigger": ("read", "trigger"),
    "admin": ("read", "trigger", "admin"),
}
PREFIX = "ck"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOKEN = re.compile(r"ck_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class TokenInfo:
    """Who a verified token is: its name, scope and task pattern."""

    name: str
    scope: str
    task_pattern: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return IMPLIED[self.scope]

    def allows(self, scope: str) -> bool:
        return scope in IMPLIED[self.scope]

    def may_trigger(self, task: str) -> bool:
        """Tell whether this token may start `task`: scope trigger or admin, and its pattern."""
        if not self.allows("trigger"):
            return False
        return self.task_pattern is None or fnmatch.fnmatchcase(task, self.task_pattern)


def hash_token(token: str) -> str:
    """Return the stored form of a token: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """Return (lookup, token): a fresh token and its public lookup part."""
    lookup = secrets.token_hex(6)
    return lookup, f"{PREFIX}_{lookup}_{secrets.token_urlsafe(32)}"


_GLOB_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-*?")  # a task name's letters, and * ?


def check_task_glob(pattern: str) -> str:
    """Return `pattern` when it is a glob over task names; UsageError for a broken one.

    fnmatch reads a `[` it cannot close, or a stray `]`, as that very character, which no task
    name has (a-z, 0-9 and '-'): such a glob, or one with any other character outside a
    `[set]`, would match no task ever registered, so it is refused. A glob that matches no task
    registered today is fine: the task may come later.
    """
    where = f"--task {pattern!r}"
    if not pattern or len(pattern) > 255:
        raise UsageError(f"{where}: give a task name or a glob such as 'daily-*'")
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "[":  # a set as fnmatch reads it: [abc], [a-z], [!abc]; a first ']' is a member
            j = i + 1 + (pattern[i + 1:i + 2] == "!")
            j += pattern[j:j + 1] == "]"
            close = pattern.find("]", j)
            if close < 0:
                raise UsageError(f"{where}: the '[' at character {i + 1} is never closed "
                                 "(a set is written [abc], [a-z] or [!abc])")
            i = close + 1
            continue
        if char not in _GLOB_PLAIN:
            raise UsageError(f"{where}: {char!r} is in no task name (a-z, 0-9 and '-'; globs add *, ? and "
                             "[set]), so this would match no task")
        i += 1
    return pattern


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise UsageError(f"--scope: must be one of {', '.join(SCOPES)}, not {scope!r}")
    return scope


def create_token(engine: Engine, name: str, scope: str, task_pattern: str | None, *, at: int,
                 actor: str | None = None) -> tuple[TokenInfo, str]:
    """Create a token; return it (the only time it exists outside its holder's hands) and its info.

    UsageError when the name is not valid or an active token already has it.
    """
    if not _NAME.fullmatch(name):
        raise UsageError(f"token name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    check_scope(scope)
    if task_pattern is not None:
        if scope != "trigger":
            raise UsageError("--task: limits a trigger token; read tokens trigger nothing, admin tokens everything")
        check_task_glob(task_pattern)
    lookup, token = new_token()
    with engine.begin() as conn:
        if _active(conn, name) is not None:
            raise UsageError(f"a token named {name!r} exists: revoke it first (cronkit token revoke {name})")
        conn.execute(api_tokens.insert().values(
            name=name, lookup=lookup, token_hash=hash_token(token), scope=scope,
            task_pattern=task_pattern, created_at=at,
        ))
        audit.record(conn, at=at, action="token.create", result="created", token_name=actor,
                     # "token <name>" would read as a bearer token to the audit's redactor: the name is no secret.
                     detail=f"name {name}, scope {scope}" + (f", tasks {task_pattern}" if task_pattern else ""))
    return TokenInfo(name, scope, task_pattern), token


def _active(conn: Connection, name: str) -> Any:
    return conn.execute(
        select(api_tokens.c.id).where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
    ).first()


def revoke_token(engine: Engine, name: str, *, at: int, actor: str | None = None) -> None:
    """Revoke the active token called `name`; UsageError when there is none."""
    with engine.begin() as conn:
        done = conn.execute(
            update(api_tokens).where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        ).rowcount
        if not done:
            raise UsageError(f"no active token named {name!r} (see cronkit token list)")
        audit.record(conn, at=at, action="token.revoke", result="revoked", token_name=actor,
                     detail=f"name {name}")


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """Return every token (never its secret or hash), active ones first, then by name."""
    query = select(api_tokens.c.name, api_tokens.c.scope, api_tokens.c.task_pattern, api_tokens.c.created_at,
                   api_tokens.c.revoked_at, api_tokens.c.last_used_at).order_by(
        api_tokens.c.revoked_at.is_not(None), api_tokens.c.name, api_tokens.c.id)
    with engine.connect() as conn:
        return [{
            "name": row.name, "scope": row.scope, "scopes": list(IMPLIED.get(row.scope, ())),
            "task": row.task_pattern, "created_at": iso(row.created_at),
            "last_used_at": iso(row.last_used_at), "revoked_at": iso(row.revoked_at),
            "active": row.revoked_at is None,
        } for row in conn.execute(query)]


def active_token_count(engine: Engine) -> int:
    """Return how many tokens can be used."""
    with engine.connect() as conn:
        return len(conn.execute(select(api_tokens.c.id).where(api_tokens.c.revoked_at.is_(None))).all())


def verify(engine: Engine, presented: str) -> TokenInfo | None:
    """Return who `presented` is, None for a malformed, unknown or revoked token."""
    match = _TOKEN.fullmatch(presented)
    if match is None:
        return None
    digest = hash_token(presented)
    with engine.connect() as conn:
        rows = conn.execute(
            select(api_tokens.c.name, api_tokens.c.scope, api_tokens.c.task_pattern, api_tokens.c.token_hash)
            .where(api_tokens.c.lookup == match.group(1), api_tokens.c.revoked_at.is_(None))
        ).all()
    found: TokenInfo | None = None
    for row in rows:  # compare every candidate: the time taken does not depend on which matched
        if hmac.compare_digest(digest, row.token_hash) and row.scope in IMPLIED:
            found = TokenInfo(row.name, row.scope, row.task_pattern)
    return found


def touch(engine: Engine, name: str, at: int) -> None:
    """Record that the token `name` was used at `at` (the server calls this at most once a minute)."""
    with engine.begin() as conn:
        conn.execute(update(api_tokens).where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
                     .values(last_used_at=at))


def bearer(header: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header, None otherwise."""
    if not header:
        return None
    kind, _, value = header.strip().partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


__all__ = ["IMPLIED", "SCOPES", "TokenInfo", "active_token_count", "bearer", "check_task_glob", "create_token",
           "hash_token",
           "list_tokens", "revoke_token", "touch", "verify"]
