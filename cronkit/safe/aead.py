"""Seal and open one value with AES-GCM, and derive its key with HKDF-SHA256 (`safe.encrypt`
holds the process's keys and the stored text's format, and imports this module only when a value
is sealed or opened)."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
INFO = b"cronkit payloads v1"


def derive(secret_key: str) -> tuple[str, bytes]:
    """Return (key id, key) derived from a secret key: the id is the first 8 hex digits of the key's SHA-256."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret_key.encode())
    return hashlib.sha256(key).hexdigest()[:8], key


def seal(key: bytes, value: str, column: str) -> str:
    """Return the base64 of a fresh nonce and `value` sealed under `key`, authenticated with `column`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8", "surrogateescape"), column.encode())
    return base64.b64encode(nonce + sealed).decode("ascii")


def open_sealed(key: bytes, data: str, column: str) -> str | None:
    """Return the plaintext of what `seal` returned; None when it is not base64, too short, or not
    sealed under `key` for `column`."""
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return None
    if len(raw) < NONCE_BYTES + 16:
        return None
    try:
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], column.encode()).decode(
            "utf-8", "surrogateescape")
    except InvalidTag:
        return None


__all__ = ["derive", "open_sealed", "seal"]
