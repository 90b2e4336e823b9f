"""Encrypted payloads (SPEC section 18): a run's params, result, error, traceback and output,
sealed at rest in the run log and the task logs when `encrypt_payloads` is on.

A sealed value is text: `ckenc1:<key id>:<base64 of nonce + AES-GCM ciphertext>`, authenticated
with the column it belongs to (a value moved to another column does not open). The key is derived
from `secret_key` with HKDF-SHA256 (cheap: it runs on every cron tick that records a run, unlike the
scrypt of the secrets' keyring, which guards values a person may choose); the key id is the first
8 hex digits of the key's SHA-256, so a read tells "encrypted under another key" from "not ours".

The process's keys are set once per command line (`configure`, from config.activate). Read paths
call `reveal`: the plaintext with the key, `(encrypted)` without it. `cryptography` is imported
only when a value is sealed or opened.
"""

from __future__ import annotations

from cronkit.plain import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any

# The AES-GCM and HKDF code (safe/aead.py: hashlib, base64, cryptography) is imported where a value
# is sealed or opened: `cronkit run` and the read commands import this module, and most seal nothing.

PREFIX = "ckenc1:"
HIDDEN = "(encrypted)"

_secrets: list[str] = []  # the current secret key first, then the previous one (it only opens)
_keys: dict[str, bytes] = {}  # key id -> key, derived from _secrets on first use
_current: str | None = None
_sealing = False


def _aead() -> ModuleType:
    """Return safe.aead, the AES-GCM and HKDF code, loaded on first use."""
    # lazy: cryptography, hashlib and base64, only when a value is sealed or opened
    from cronkit.safe import aead

    return aead


def derive(secret_key: str) -> tuple[str, bytes]:
    """Return (key id, key) derived from a secret key."""
    derived: tuple[str, bytes] = _aead().derive(secret_key)
    return derived


def configure(secret_key: str | None, previous_key: str | None = None, *, encrypt: bool = False) -> None:
    """Set this process's keys: `secret_key` seals (when `encrypt`) and opens; `previous_key` only opens.

    Nothing is derived here: a command that seals and opens nothing pays nothing.
    """
    global _current, _sealing
    _secrets[:] = [key for key in (secret_key, previous_key) if key]
    _keys.clear()
    _current = None
    _sealing = bool(encrypt and secret_key)


def _derive_all() -> None:
    global _current
    if _keys or not _secrets:
        return
    for number, secret in enumerate(_secrets):
        found, key = derive(secret)
        _keys[found] = key
        if number == 0:
            _current = found


def sealing() -> bool:
    """Tell whether this process seals what it stores."""
    return _sealing


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(value: str | None, column: str) -> str | None:
    """Return `value` sealed under the current key when sealing is on; None and plain values as they are otherwise."""
    if value is None or not _sealing or is_sealed(value):
        return value
    _derive_all()
    assert _current is not None
    return f"{PREFIX}{_current}:{_aead().seal(_keys[_current], value, column)}"


def open_value(value: str, column: str) -> str | None:
    """Return the plaintext of a sealed value; None when no key of this process opens it."""
    _derive_all()
    found, colon, data = value[len(PREFIX):].partition(":")
    key = _keys.get(found)
    if not colon or key is None:
        return None
    opened: str | None = _aead().open_sealed(key, data, column)
    return opened


def reveal(value: Any, column: str) -> Any:
    """Return a stored value as a reader sees it: plain as it is, sealed opened, `(encrypted)` without the key."""
    if not is_sealed(value):
        return value
    opened = open_value(value, column)
    return HIDDEN if opened is None else opened


def key_id() -> str | None:
    """Return the id of the key this process seals with (None without a secret key)."""
    _derive_all()
    return _current


__all__ = ["HIDDEN", "PREFIX", "configure", "derive", "is_sealed", "key_id", "open_value", "reveal", "rewrap",
           "seal", "sealing"]


def rewrap(value: Any, column: str) -> tuple[Any, str]:
    """Return `value` sealed under the current key and what that took: `current` (already was),
    `sealed` (was plain), `resealed` (was under another key this process holds), `unopenable`."""
    if value is None:
        return value, "current"
    if not is_sealed(value):
        return seal(str(value), column), "sealed"
    if value.startswith(f"{PREFIX}{key_id()}:"):
        return value, "current"
    opened = open_value(value, column)
    if opened is None:
        return value, "unopenable"
    return seal(opened, column), "resealed"
