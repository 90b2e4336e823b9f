"""secret-rotation: new versions for secrets past their rotation date, retire old ones.

Storage (table `secrets` of `cronkit.tasks.platform`): one row per (name, version), status
`active` (one per name), `previous` (still accepted until `previous_until`) or `retired`
(value erased). Values are encrypted at rest with AES-256-GCM under a key derived from
CRONKIT_SECRET_KEY by scrypt (n=2**14, r=8, p=1) and a random salt. A stored value is
`0x01 | salt (16) | nonce (12) | ciphertext+tag`; the associated data binds it to its
name and version, so a value copied onto another row does not decrypt. One salt is used
per database (new values reuse the salt already there), so a run derives the key once.

Safety: nothing changes until every stored value has been decrypted with the configured key
(a wrong key is a ConfigError and leaves the table as it was); each secret rotates in its own
transaction that takes the write lock and re-checks the active row (conditional UPDATE plus
rowcount check, unique (name, version)), so two concurrent rotations make one new version.
No value is ever logged, returned or written anywhere but the encrypted column.
"""

from __future__ import annotations

import os
import secrets as _random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import and_, func, insert, inspect, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from cronkit.context import TaskContext
from cronkit.errors import ConfigError, CronkitError, UsageError
from cronkit.tasks import platform
from cronkit.tasks._support import write_transaction
from cronkit.tasks.platform import SECRET_ACTIVE, SECRET_PREVIOUS, SECRET_RETIRED
from cronkit.tasks.platform import secrets as secrets_table

if TYPE_CHECKING:
    from cronkit.config.settings import Settings

TASK = "secret-rotation"
FORMAT_V1 = b"\x01"
SALT_BYTES = 16
NONCE_BYTES = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
NEW_VALUE_BYTES = 32  # 256 bits of randomness per new version


class SecretNotFound(CronkitError):
    """No active version of that secret exists."""

    what_to_do = "Check the name with `cronkit secrets list`; add it with `cronkit secrets add NAME`."


def _missing_key() -> ConfigError:
    return ConfigError(f"{TASK}: CRONKIT_SECRET_KEY is not set")


def _wrong_key(name: str) -> ConfigError:
    return ConfigError(
        f"{TASK}: CRONKIT_SECRET_KEY does not decrypt the stored value of {name!r} "
        "(wrong key, or the row was altered); nothing was changed"
    )


@dataclass
class Keyring:
    """Keys derived from CRONKIT_SECRET_KEY, one per salt, derived once each."""

    secret_key: str = field(repr=False)
    salt: bytes | None = None
    _keys: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    def key(self, salt: bytes) -> bytes:
        if salt not in self._keys:
            kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
            self._keys[salt] = kdf.derive(self.secret_key.encode("utf-8"))
        return self._keys[salt]

    def encrypt(self, name: str, version: int, value: str) -> bytes:
        if self.salt is None:
            self.salt = os.urandom(SALT_BYTES)
        nonce = os.urandom(NONCE_BYTES)
        aead = AESGCM(self.key(self.salt))
        sealed = aead.encrypt(nonce, value.encode("utf-8"), _aad(name, version))
        return FORMAT_V1 + self.salt + nonce + sealed

    def decrypt(self, name: str, version: int, blob: bytes) -> str:
        blob = bytes(blob)
        if not blob.startswith(FORMAT_V1) or len(blob) < 1 + SALT_BYTES + NONCE_BYTES + 16:
            raise _wrong_key(name)
        salt = blob[1:1 + SALT_BYTES]
        nonce = blob[1 + SALT_BYTES:1 + SALT_BYTES + NONCE_BYTES]
        try:
            sealed = blob[1 + SALT_BYTES + NONCE_BYTES:]
            plain = AESGCM(self.key(salt)).decrypt(nonce, sealed, _aad(name, version))
        except InvalidTag:
            raise _wrong_key(name) from None
        if self.salt is None:
            self.salt = salt
        return plain.decode("utf-8")


def _aad(name: str, version: int) -> bytes:
    return f"cronkit-secret\0{name}\0{version}".encode()


def keyring_for(settings: Settings) -> Keyring:
    """Return a keyring for CRONKIT_SECRET_KEY; ConfigError (exit 78) when it is not set."""
    if not settings.secret_key:
        raise _missing_key()
    return Keyring(settings.secret_key)


def verify_key(engine: Engine, keyring: Keyring) -> int:
    """Decrypt every stored value; ConfigError on the first that does not. Return how many."""
    t = secrets_table
    checked = 0
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.name, t.c.version, t.c.value_encrypted)
            .where(t.c.value_encrypted.is_not(None)).order_by(t.c.id)
        )
        for name, version, blob in rows:
            keyring.decrypt(name, version, blob)  # the plaintext is dropped at once
            checked += 1
    return checked


def new_value() -> str:
    """Return a fresh random secret value (URL-safe text)."""
    return _random.token_urlsafe(NEW_VALUE_BYTES)


def secret_rotation(ctx: TaskContext) -> dict[str, Any]:
    """Rotate every secret past its rotation date; retire previous versions past their grace."""
    keyring = keyring_for(ctx.settings)
    grace = timedelta(hours=_number(ctx.config, "grace_period_hours"))
    interval = timedelta(days=_number(ctx.config, "rotation_interval_days"))
    if interval <= timedelta(0):
        raise ConfigError(f"tasks.{TASK}.rotation_interval_days: must be more than 0")
    engine = ctx.app_db
    if not ctx.dry_run:
        platform.create_all(engine)
    elif not _has_table(engine):
        return {"dry_run": True, "secrets_checked": 0, "rotated": 0, "retired": 0,
                "already_rotated": 0, "rotated_names": [], "retired_names": []}
    now = ctx.now
    checked = verify_key(engine, keyring)
    t = secrets_table
    with engine.connect() as conn:
        due = list(conn.execute(
            select(t.c.name)
            .where(t.c.status == SECRET_ACTIVE, t.c.rotate_after <= now)
            .order_by(t.c.name)
        ).scalars())
        expiring = [f"{n}@v{v}" for n, v in conn.execute(
            select(t.c.name, t.c.version)
            .where(t.c.status == SECRET_PREVIOUS, t.c.previous_until <= now)
            .order_by(t.c.name, t.c.version)
        )]
    result: dict[str, Any] = {"dry_run": ctx.dry_run, "secrets_checked": checked}
    if ctx.dry_run:
        result.update(rotated=len(due), retired=len(expiring), already_rotated=0,
                      rotated_names=due, retired_names=expiring)
        return result

    rotated, skipped = [], 0
    for name in due:
        ctx.check_cancelled()
        if rotate_one(engine, keyring, name, now, grace, interval):
            rotated.append(name)
        else:
            skipped += 1
    retired = retire_expired(engine, now)
    ctx.logger.info("%s: rotated %d, retired %d", TASK, len(rotated), len(retired))
    result.update(rotated=len(rotated), retired=len(retired), already_rotated=skipped,
                  rotated_names=rotated, retired_names=retired)
    return result


def rotate_one(engine: Engine, keyring: Keyring, name: str, now: datetime, grace: timedelta,
               interval: timedelta, *, due_only: bool = True) -> bool:
    """Make a new active version of `name` if it is still due (any time: `due_only=False`).

    False when there is no active version, or someone else rotated it first.
    """
    t = secrets_table
    try:
        with write_transaction(engine) as conn:
            query = select(t.c.id, t.c.version).where(t.c.name == name, t.c.status == SECRET_ACTIVE)
            if due_only:
                query = query.where(t.c.rotate_after <= now)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None:
                return False
            demoted = conn.execute(
                update(t)
                .where(t.c.id == row.id, t.c.status == SECRET_ACTIVE, t.c.version == row.version)
                .values(status=SECRET_PREVIOUS, previous_until=now + grace)
            ).rowcount
            if demoted != 1:
                conn.rollback()
                return False
            top = conn.execute(select(func.max(t.c.version)).where(t.c.name == name)).scalar() or 0
            version = int(top) + 1
            conn.execute(insert(t).values(
                name=name, version=version,
                value_encrypted=keyring.encrypt(name, version, new_value()),
                created_at=now, rotate_after=now + interval, status=SECRET_ACTIVE,
            ))
    except IntegrityError:
        return False  # a concurrent rotation inserted this version first
    return True


def retire_expired(engine: Engine, now: datetime) -> list[str]:
    """Retire `previous` versions past their grace period and erase their values."""
    t = secrets_table
    expired = and_(t.c.status == SECRET_PREVIOUS, t.c.previous_until <= now)
    with write_transaction(engine, secure_delete=True) as conn:
        names = [f"{n}@v{v}" for n, v in conn.execute(
            select(t.c.name, t.c.version).where(expired).order_by(t.c.name, t.c.version)
        )]
        conn.execute(update(t).where(expired).values(
            status=SECRET_RETIRED, value_encrypted=None, retired_at=now
        ))
    return names


def add_secret(conn: Connection, keyring: Keyring, name: str, version: int, value: str | None, *,
               created_at: datetime, rotate_after: datetime, status: str = SECRET_ACTIVE,
               previous_until: datetime | None = None, retired_at: datetime | None = None) -> None:
    """Insert one version of a secret, encrypting its value (None for a retired version)."""
    conn.execute(insert(secrets_table).values(
        name=name, version=version,
        value_encrypted=keyring.encrypt(name, version, value) if value is not None else None,
        created_at=created_at, rotate_after=rotate_after, status=status,
        previous_until=previous_until, retired_at=retired_at,
    ))


def active_value(engine: Engine, settings: Settings, name: str) -> str:
    """Return the plaintext of the active version of `name` (for the platform and for tests)."""
    keyring = keyring_for(settings)
    t = secrets_table
    with engine.connect() as conn:
        row = conn.execute(
            select(t.c.version, t.c.value_encrypted)
            .where(t.c.name == name, t.c.status == SECRET_ACTIVE)
        ).first()
    if row is None or row.value_encrypted is None:
        raise SecretNotFound(f"{TASK}: no active secret named {name!r}")
    return keyring.decrypt(name, row.version, row.value_encrypted)


def list_secrets(engine: Engine) -> list[dict[str, Any]]:
    """Return every stored version: name, version, status and dates; never a value."""
    if not _has_table(engine):
        return []
    t = secrets_table
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.name, t.c.version, t.c.status, t.c.created_at, t.c.rotate_after,
                   t.c.previous_until, t.c.retired_at).order_by(t.c.name, t.c.version)
        ).mappings().all()
    return [dict(row) for row in rows]


def store_new_secret(engine: Engine, keyring: Keyring, name: str, value: str, now: datetime,
                     interval: timedelta) -> int:
    """Store `value` as the first version of a new secret; UsageError when `name` has an active one."""
    platform.create_all(engine)
    verify_key(engine, keyring)  # reuse the database's salt; refuse a different key
    t = secrets_table
    with write_transaction(engine) as conn:
        versions = conn.execute(select(t.c.version, t.c.status).where(t.c.name == name)).all()
        if any(status == SECRET_ACTIVE for _, status in versions):
            raise UsageError(f"secret {name!r} already exists: use `cronkit secrets rotate {name}`")
        version = max((v for v, _ in versions), default=0) + 1
        add_secret(conn, keyring, name, version, value, created_at=now, rotate_after=now + interval)
    return version


def seed_demo_secrets(engine: Engine, settings: Settings, now: datetime) -> int:
    """Store sample secrets: some due for rotation, a previous version past its grace.

    Does nothing and returns 0 when CRONKIT_SECRET_KEY is not set; secrets that already
    exist are left alone. Returns the number of versions written.
    """
    if not settings.secret_key:
        return 0
    keyring = Keyring(settings.secret_key)
    platform.create_all(engine)
    verify_key(engine, keyring)  # reuse the database's salt; refuse a different key
    day = timedelta(days=1)
    plan: list[tuple[str, list[dict[str, Any]]]] = [
        ("payments-api-key", [  # due for rotation
            dict(version=1, created_at=now - 40 * day, rotate_after=now - 10 * day),
        ]),
        ("smtp-password", [  # due, with an old retired version
            dict(version=1, created_at=now - 100 * day, rotate_after=now - 70 * day,
                 status=SECRET_RETIRED, retired_at=now - 69 * day, erased=True),
            dict(version=2, created_at=now - 31 * day, rotate_after=now - day),
        ]),
        ("jwt-signing-key", [  # rotated yesterday: previous version past its grace
            dict(version=1, created_at=now - 31 * day, rotate_after=now - 2 * day,
                 status=SECRET_PREVIOUS, previous_until=now - timedelta(hours=2)),
            dict(version=2, created_at=now - 2 * day, rotate_after=now + 28 * day),
        ]),
        ("webhook-signing-secret", [  # not due: nothing to do
            dict(version=1, created_at=now - 5 * day, rotate_after=now + 25 * day),
        ]),
    ]
    written = 0
    t = secrets_table
    with write_transaction(engine) as conn:
        existing = set(conn.execute(select(t.c.name).distinct()).scalars())
        for name, versions in plan:
            if name in existing:
                continue
            for spec in versions:
                erased = spec.pop("erased", False)
                value = None if erased else new_value()
                add_secret(conn, keyring, name, spec.pop("version"), value, **spec)
                written += 1
    return written


def _has_table(engine: Engine) -> bool:
    return inspect(engine).has_table(secrets_table.name)


def _number(config: Any, key: str) -> float:
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"tasks.{TASK}.{key}: must be a number >= 0")
    return float(value)
