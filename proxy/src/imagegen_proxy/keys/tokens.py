"""Virtual keys: how one is made, and the only form in which one is stored (its SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sk-"


def new_key() -> str:
    """A fresh virtual key: `sk-` and 32 random bytes, URL-safe (43 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The key's SHA-256 in hex: what the database, caches and logs hold instead of the key.

    A plain hash suffices (no salt, no slow KDF): a key carries 256 random bits, far beyond guessing.
    """
    return hashlib.sha256(key.encode()).hexdigest()


def key_name(key: str) -> str:
    """How a key is shown once it is stored: `sk-...` and its last four characters (LiteLLM's `key_name`)."""
    return f"{KEY_PREFIX}...{key[-4:]}"


def token_of(key_or_token: str) -> str:
    """The stored id of a key given as itself (`sk-…`) or already as its hash (admin routes accept both)."""
    return hash_key(key_or_token) if key_or_token.startswith(KEY_PREFIX) else key_or_token
