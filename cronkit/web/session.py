"""Dashboard sessions: a token signs in once, a signed cookie carries the session, CSRF per form.

The cookie (`cronkit_session`) is signed with itsdangerous and holds the token's hash (what the
run log stores, never the token), its name, a random session id, a CSRF secret and the time it
was issued; it is HttpOnly, SameSite=Strict and expires after SESSION_MAX_AGE. Every request
checks the hash against the run log again, so revoking a token ends its sessions at once, and
checks the session id against the run log's `ended_sessions`, where signing out puts it: a
signed-out cookie stays refused, across restarts, until it would have expired anyway. The
signing key is <home>/dashboard.key (0600, created on first use): sessions outlive a restart.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from cronkit.runlog.schema import api_tokens, ended_sessions
from cronkit.runlog.times import now_ms
from cronkit.web import audit
from cronkit.web.auth import IMPLIED, TokenInfo

COOKIE = "cronkit_session"
SIGNIN_COOKIE = "cronkit_signin"  # the CSRF secret of the sign-in form, before there is a session
SESSION_MAX_AGE = 8 * 3600  # seconds
SIGNIN_MAX_AGE = 1800
KEY_FILE = "dashboard.key"
# Seconds an ended session stays recorded past its cookie's expiry: another host serving the same
# run log may read the time a little behind this one, and would accept the cookie that much longer.
ENDED_MARGIN = 3600
_FIELDS = ("h", "n", "s", "c")  # token hash, token name, session id, CSRF secret


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who its token is, and the CSRF secret its forms carry."""

    token: TokenInfo
    token_hash: str
    csrf: str
    session_id: str
    expires_at: float  # when the cookie expires: epoch seconds, on the clock itsdangerous reads

    def check_csrf(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf, str(presented))


def signing_key(home: Path) -> str:
    """Return the dashboard's signing key, creating <home>/dashboard.key (0600) when missing."""
    path = home / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


class Sessions:
    """Issue and read session cookies and sign-in CSRF cookies."""

    def __init__(self, key: str) -> None:
        self._session = URLSafeTimedSerializer(key, salt="cronkit.dashboard.session")
        self._signin = URLSafeTimedSerializer(key, salt="cronkit.dashboard.signin")

    def issue(self, token_hash: str, name: str) -> tuple[str, str]:
        """Return (cookie value, CSRF secret) of a new session, with a random id of its own."""
        csrf = secrets.token_urlsafe(24)
        return self._session.dumps({"h": token_hash, "n": name, "s": secrets.token_urlsafe(24), "c": csrf}), csrf

    def read(self, cookie: str | None) -> dict[str, Any] | None:
        """Return a session cookie's content and its expiry ("e", epoch seconds); None when absent,
        forged, expired, or issued before sessions had ids (those could not be signed out)."""
        if not cookie:
            return None
        try:
            data, issued = self._session.loads(cookie, max_age=SESSION_MAX_AGE, return_timestamp=True)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in _FIELDS):
            return None
        return {**data, "e": issued.timestamp() + SESSION_MAX_AGE}

    def signin_csrf(self) -> tuple[str, str]:
        """Return (cookie value, form value) of the sign-in form's CSRF check."""
        value = secrets.token_urlsafe(24)
        return self._signin.dumps(value), value

    def check_signin(self, cookie: str | None, presented: str | None) -> bool:
        if not cookie or not presented:
            return False
        try:
            value = self._signin.loads(cookie, max_age=SIGNIN_MAX_AGE)
        except BadSignature:
            return False
        return isinstance(value, str) and hmac.compare_digest(value, presented)


def session_token(engine: Engine, token_hash: str, session_id: str) -> TokenInfo | None:
    """Return the active token whose hash is `token_hash`; None when it is revoked or unknown, or
    when the session `session_id` was signed out."""
    with engine.connect() as conn:
        ended = conn.execute(select(ended_sessions.c.session_id)
                             .where(ended_sessions.c.session_id == session_id)).first()
        if ended is not None:
            return None
        rows = conn.execute(
            select(api_tokens.c.name, api_tokens.c.scope, api_tokens.c.task_pattern, api_tokens.c.env_pattern,
                   api_tokens.c.token_hash)
            .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
        ).all()
    for row in rows:
        if hmac.compare_digest(row.token_hash, token_hash) and row.scope in IMPLIED:
            return TokenInfo(row.name, row.scope, row.task_pattern, row.env_pattern)
    return None


def end_session(engine: Engine, session: Session, *, now: float, remote_addr: str | None = None,
                user_agent: str | None = None) -> None:
    """Record that `session` signed out (refused from now on), with its audit row, and forget the
    ended sessions whose cookies have expired. `now`: epoch seconds on the cookies' clock."""
    with engine.begin() as conn:
        conn.execute(delete(ended_sessions).where(ended_sessions.c.expires_at < int((now - ENDED_MARGIN) * 1000)))
        known = select(ended_sessions.c.session_id).where(ended_sessions.c.session_id == session.session_id)
        if conn.execute(known).first() is None:  # signed out twice at once: once is enough
            # The cookie's time is in whole seconds and it is accepted through the last one: +1 s.
            conn.execute(ended_sessions.insert().values(session_id=session.session_id,
                                                        expires_at=int(session.expires_at * 1000) + 1000))
        audit.record(conn, at=now_ms(), action="dashboard.signout", result="signed_out", token_name=session.token.name,
                     remote_addr=remote_addr, user_agent=user_agent, status_code=303)


def cookie_options(secure: bool, max_age: int) -> dict[str, Any]:
    """Return the attributes of a dashboard cookie."""
    return {"max_age": max_age, "httponly": True, "samesite": "strict", "secure": secure, "path": "/"}


__all__ = ["COOKIE", "SESSION_MAX_AGE", "SIGNIN_COOKIE", "Session", "Sessions", "cookie_options", "end_session",
           "session_token", "signing_key"]
