"""API tokens: `ck_<lookup>_<secret>`, stored as a SHA-256 hash, checked in constant time.

A token is 32 random bytes: a fast hash is the right one (nothing to brute-force, unlike a
password), and the public `lookup` part finds the row without comparing secrets in SQL.

A token has a role (SPEC section 18): `viewer` reads; `operator` also triggers, pauses and
resumes; `admin` also reads the audit and manages tokens. The scopes of earlier releases are
aliases (`read` = viewer, `trigger` = operator). `--task GLOB`s and `--env ENV`s limit EVERY
action of the token, reads included: a task outside them is absent from its answers. Library
only: the CLI prints, this module never does.
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

from cronkit.errors import UsageError
from cronkit.runlog.schema import api_tokens
from cronkit.runlog.times import iso
from cronkit.web import audit

ROLES = ("viewer", "operator", "admin")
ALIASES = {"read": "viewer", "trigger": "operator"}  # the scopes of 0.2.0, stored as they were
ROLE_FOR = {"read": "viewer", "trigger": "operator", "admin": "admin"}  # the least role of each scope
SCOPES = ("read", "trigger", "admin")
IMPLIED: dict[str, tuple[str, ...]] = {
    "read": ("read",),
    "trigger": ("read", "trigger"),
    "admin": ("read", "trigger", "admin"),
    "viewer": ("read",),
    "operator": ("read", "trigger"),
}
PREFIX = "ck"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_TOKEN = re.compile(r"ck_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class TokenInfo:
    """Who a verified token is: its name, role (or the scope it was made with), tasks and environments."""

    name: str
    scope: str
    task_pattern: str | None = None  # comma-separated globs; None: every task
    env_pattern: str | None = None  # comma-separated environments; None: every environment

    @property
    def role(self) -> str:
        return ALIASES.get(self.scope, self.scope)

    @property
    def scopes(self) -> tuple[str, ...]:
        return IMPLIED[self.scope]

    @property
    def globs(self) -> tuple[str, ...]:
        return tuple(self.task_pattern.split(",")) if self.task_pattern else ()

    @property
    def envs(self) -> tuple[str, ...]:
        return tuple(self.env_pattern.split(",")) if self.env_pattern else ()

    @property
    def limited(self) -> bool:
        """Whether the token sees only some tasks (globs or environments)."""
        return bool(self.task_pattern or self.env_pattern)

    def allows(self, scope: str) -> bool:
        return scope in IMPLIED[self.scope]

    def works_in(self, environment: str) -> bool:
        """Tell whether the token acts in a service of `environment` (its `--env` list)."""
        return not self.envs or environment in self.envs

    def sees(self, task: str, environment: str) -> bool:
        """Tell whether `task` is within the token's tasks and environments: anything else is absent."""
        if not self.works_in(environment):
            return False
        return not self.globs or any(fnmatch.fnmatchcase(task, glob) for glob in self.globs)

    def may_trigger(self, task: str, environment: str | None = None) -> bool:
        """Tell whether this token may start (pause, resume) `task`: operator or admin, within its limits."""
        if not self.allows("trigger"):
            return False
        if environment is not None and not self.works_in(environment):
            return False
        return not self.globs or any(fnmatch.fnmatchcase(task, glob) for glob in self.globs)


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


def check_role(role: str) -> str:
    """Return `role` (a role, or an old scope's alias) as stored; UsageError for another word."""
    if role not in ROLES and role not in ALIASES:
        raise UsageError(f"--role: must be one of {', '.join(ROLES)}, not {role!r}")
    return role


_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_envs(envs: list[str]) -> str | None:
    """Return the `--env` list as stored (comma-separated), None for none; UsageError for a bad name."""
    for env in envs:
        if not _ENV_NAME.fullmatch(env):
            raise UsageError(f"--env {env!r}: not an environment name (letters, digits, '.', '_', '-')")
    return ",".join(dict.fromkeys(envs)) or None


def create_token(engine: Engine, name: str, scope: str, task_pattern: str | list[str] | None, *, at: int,
                 actor: str | None = None, envs: list[str] | None = None) -> tuple[TokenInfo, str]:
    """Create a token; return it (the only time it exists outside its holder's hands) and its info.

    `scope` is a role or an old scope; `task_pattern` one glob or several. UsageError when the name
    is not valid or an active token already has it.
    """
    if not _NAME.fullmatch(name):
        raise UsageError(f"token name {name!r}: use letters, digits, '.', '_' and '-' (at most 64)")
    check_role(scope)
    globs = [task_pattern] if isinstance(task_pattern, str) else list(task_pattern or [])
    for glob in globs:
        check_task_glob(glob)
    pattern = ",".join(dict.fromkeys(globs)) or None
    env_pattern = check_envs(envs or [])
    lookup, token = new_token()
    with engine.begin() as conn:
        if _active(conn, name) is not None:
            raise UsageError(f"a token named {name!r} exists: revoke it first (cronkit token revoke {name})")
        conn.execute(api_tokens.insert().values(
            name=name, lookup=lookup, token_hash=hash_token(token), scope=scope,
            task_pattern=pattern, env_pattern=env_pattern, created_at=at,
        ))
        audit.record(conn, at=at, action="token.create", result="created", token_name=actor,
                     # "token <name>" would read as a bearer token to the audit's redactor: the name is no secret.
                     detail=f"name {name}, role {ALIASES.get(scope, scope)}" + (f", tasks {pattern}" if pattern else "")
                     + (f", environments {env_pattern}" if env_pattern else ""))
    return TokenInfo(name, scope, pattern, env_pattern), token


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
    query = select(api_tokens.c.name, api_tokens.c.scope, api_tokens.c.task_pattern, api_tokens.c.env_pattern,
                   api_tokens.c.created_at, api_tokens.c.revoked_at, api_tokens.c.last_used_at).order_by(
        api_tokens.c.revoked_at.is_not(None), api_tokens.c.name, api_tokens.c.id)
    with engine.connect() as conn:
        return [{
            "name": row.name, "role": ALIASES.get(row.scope, row.scope), "scope": row.scope,
            "scopes": list(IMPLIED.get(row.scope, ())), "task": row.task_pattern,
            "tasks": row.task_pattern.split(",") if row.task_pattern else [],
            "environments": row.env_pattern.split(",") if row.env_pattern else [],
            "created_at": iso(row.created_at),
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
            select(api_tokens.c.name, api_tokens.c.scope, api_tokens.c.task_pattern, api_tokens.c.env_pattern,
                   api_tokens.c.token_hash)
            .where(api_tokens.c.lookup == match.group(1), api_tokens.c.revoked_at.is_(None))
        ).all()
    found: TokenInfo | None = None
    for row in rows:  # compare every candidate: the time taken does not depend on which matched
        if hmac.compare_digest(digest, row.token_hash) and row.scope in IMPLIED:
            found = TokenInfo(row.name, row.scope, row.task_pattern, row.env_pattern)
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
