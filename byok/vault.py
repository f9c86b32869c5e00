"""AES-256-GCM encryption of stored API keys under a master key.

Each ciphertext is ``version || nonce(12) || ciphertext+tag`` with a fresh random
96-bit nonce. The associated data names the owner and provider, so a row copied to
another user or provider fails to decrypt. Rows record the id of the master key
that sealed them; a :class:`Keyring` holds the current key and any previous ones,
so rotation can proceed row by row and be resumed after an interruption.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from byok.errors import KeyDecryptError, MasterKeyMissingError, VaultError
from byok.remedies import AddKey
from byok.secret import Secret
from byok.types import UserRef

__all__ = [
    "FORMAT_VERSION",
    "Keyring",
    "MasterKey",
    "Sealed",
    "associated_data",
    "cache_associated_data",
    "derive_master_key",
    "load_or_create_key_file",
    "parse_raw_key",
]

FORMAT_VERSION = 1
_NONCE_BYTES = 12
# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB of memory, ~0.1 s on one core.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


@dataclass(frozen=True, slots=True)
class MasterKey:
    """32 bytes of key material and a public id derived from it (safe to store)."""

    material: bytes
    key_id: str

    @classmethod
    def from_bytes(cls, material: bytes) -> MasterKey:
        if len(material) != 32:
            raise VaultError(f"master key must be 32 bytes, got {len(material)}")
        key_id = hmac.new(material, b"byok-bot master key id", hashlib.sha256).hexdigest()[:16]
        return cls(material=material, key_id=key_id)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


@dataclass(frozen=True, slots=True)
class Sealed:
    """An encrypted key as stored: ciphertext blob and the master key id that sealed it."""

    blob: bytes
    master_key_id: str


def derive_master_key(password: str, salt: str, *, n: int = SCRYPT_N) -> MasterKey:
    """Password + salt through scrypt, a memory-hard KDF."""
    if not password:
        raise MasterKeyMissingError("BYOK_ENCRYPTION_PASSWORD is empty")
    if len(salt) < 16:
        raise VaultError(
            "BYOK_ENCRYPTION_SALT must be at least 16 characters "
            "(generate one with: python -c 'import secrets; print(secrets.token_hex(16))')"
        )
    kdf = Scrypt(salt=salt.encode(), length=32, n=n, r=SCRYPT_R, p=SCRYPT_P)
    return MasterKey.from_bytes(kdf.derive(password.encode()))


def parse_raw_key(text: str) -> MasterKey:
    """A raw 32-byte key written as 64 hex digits or base64."""
    text = text.strip()
    try:
        if len(text) == 64:
            return MasterKey.from_bytes(bytes.fromhex(text))
        return MasterKey.from_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise VaultError(
            "BYOK_ENCRYPTION_KEY must be 32 bytes as 64 hex digits or base64 "
            "(generate one with: python -c 'import secrets; print(secrets.token_hex(32))')"
        ) from exc


def load_or_create_key_file(path: Path) -> tuple[MasterKey, bool]:
    """Development only: a local key file readable by its owner alone.

    Returns the key and whether the file was created just now.
    """
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise VaultError(
                f"master key file {path} is readable by others (mode {mode:o}); "
                f"run: chmod 600 {path}"
            )
        return parse_raw_key(path.read_text()), False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    material = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(material.hex() + "\n")
    return MasterKey.from_bytes(material), True


def associated_data(owner: UserRef, provider_id: str) -> bytes:
    """Binds a ciphertext to one user and one provider."""
    parts = (owner.platform, owner.workspace, owner.user, provider_id)
    return b"byok:v1\x00" + b"\x00".join(p.encode() for p in parts)


def cache_associated_data(owner: UserRef, provider_id: str, key_hash: str) -> bytes:
    """Binds a cached answer to one user, one provider and one request (``key_hash``).

    Its own domain (``byok-cache:v1``): a cache blob and a key blob of the same owner
    and provider never open as each other.
    """
    parts = (owner.platform, owner.workspace, owner.user, provider_id, key_hash)
    return b"byok-cache:v1\x00" + b"\x00".join(p.encode() for p in parts)


class Keyring:
    """The current master key plus previous ones still needed to read older rows."""

    def __init__(self, current: MasterKey, previous: Iterable[MasterKey] = ()) -> None:
        self.current = current
        self._by_id = {k.key_id: k for k in previous}
        self._by_id[current.key_id] = current

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def seal(self, plaintext: Secret, owner: UserRef, provider_id: str) -> Sealed:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        aead = AESGCM(self.current.material)
        body = aead.encrypt(nonce, plaintext.reveal().encode(), associated_data(owner, provider_id))
        return Sealed(bytes([FORMAT_VERSION]) + nonce + body, self.current.key_id)

    def open(self, sealed: Sealed, owner: UserRef, provider_id: str) -> Secret:
        key = self._by_id.get(sealed.master_key_id)
        if key is None:
            raise KeyDecryptError(
                f"stored key was sealed with master key {sealed.master_key_id}, "
                "which is not configured",
                explanation="Your stored key cannot be read with the bot's current master key.",
                advice=("Ask the operator, or add the key again with ", AddKey(provider_id), "."),
            )
        blob = sealed.blob
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
            raise KeyDecryptError("stored key has an unknown format")
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plain = AESGCM(key.material).decrypt(nonce, body, associated_data(owner, provider_id))
        except InvalidTag as exc:
            raise KeyDecryptError(
                "stored key failed authentication (tampered, or moved to another owner)",
                explanation="Your stored key could not be verified and was not used.",
                advice=("Add it again with ", AddKey(provider_id), "."),
            ) from exc
        return Secret(plain.decode())

    def owner_key(self, owner: UserRef, purpose: bytes) -> bytes:
        """A 32-byte key for one owner and one purpose, derived from the current master
        key (HMAC-SHA256); another master key derives unrelated keys."""
        parts = (purpose, *(p.encode() for p in (owner.platform, owner.workspace, owner.user)))
        return hmac.new(self.current.material, b"\x00".join(parts), hashlib.sha256).digest()

    def seal_bytes(self, plaintext: bytes, associated: bytes) -> Sealed:
        """Seal bytes under the current key with the caller's associated data."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = AESGCM(self.current.material).encrypt(nonce, plaintext, associated)
        return Sealed(bytes([FORMAT_VERSION]) + nonce + body, self.current.key_id)

    def open_bytes(self, sealed: Sealed, associated: bytes) -> bytes | None:
        """What :meth:`seal_bytes` sealed; None when it cannot be opened (another
        master key, another format, tampered or moved)."""
        key = self._by_id.get(sealed.master_key_id)
        blob = sealed.blob
        if key is None or len(blob) < 1 + _NONCE_BYTES + 16 or blob[0] != FORMAT_VERSION:
            return None
        nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            return AESGCM(key.material).decrypt(nonce, body, associated)
        except InvalidTag:
            return None

    def reseal(self, sealed: Sealed, owner: UserRef, provider_id: str) -> Sealed:
        """Re-encrypt under the current key (a no-op copy if already current)."""
        if sealed.master_key_id == self.current.key_id:
            return sealed
        return self.seal(self.open(sealed, owner, provider_id), owner, provider_id)
