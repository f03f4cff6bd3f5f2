"""memberlist's keyring and AES-GCM payload encryption.

An encrypted payload is ``[version u8][12-byte nonce][ciphertext || 16-byte tag]``.
Version 0 PKCS#7-pads the plaintext to 16 bytes first; version 1 does not.
Encryption uses the primary key (index 0); decryption tries every key.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["DecryptError", "Keyring", "KeyringError", "decrypt_payload", "encrypt_payload"]

NONCE_SIZE = 12
TAG_SIZE = 16
BLOCK_SIZE = 16
MAX_ENCRYPTION_VERSION = 1
KEY_SIZES = (16, 24, 32)


class KeyringError(ValueError):
    """A key operation that memberlist would refuse."""


class DecryptError(ValueError):
    """No key in the ring authenticates the payload (or it is malformed)."""


def encrypted_length(version: int, plaintext_len: int) -> int:
    if version == 0:
        plaintext_len += BLOCK_SIZE - plaintext_len % BLOCK_SIZE
    return 1 + NONCE_SIZE + plaintext_len + TAG_SIZE


def encrypt_payload(
    version: int, key: bytes, plaintext: bytes, aad: bytes, nonce: bytes | None = None
) -> bytes:
    if version not in (0, 1):
        raise KeyringError(f"unsupported encryption version {version}")
    if version == 0:
        pad = BLOCK_SIZE - len(plaintext) % BLOCK_SIZE
        plaintext = plaintext + bytes([pad]) * pad
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    sealed = AESGCM(key).encrypt(nonce, plaintext, aad or None)
    return bytes([version]) + nonce + sealed


def decrypt_payload(keys: list[bytes], payload: bytes, aad: bytes) -> bytes:
    if len(payload) < 1 + NONCE_SIZE + TAG_SIZE:
        raise DecryptError("encrypted payload too short")
    version = payload[0]
    if version > MAX_ENCRYPTION_VERSION:
        raise DecryptError(f"unsupported encryption version {version}")
    nonce = payload[1 : 1 + NONCE_SIZE]
    sealed = payload[1 + NONCE_SIZE :]
    for key in keys:
        try:
            plain = AESGCM(key).decrypt(nonce, sealed, aad or None)
        except InvalidTag:
            continue
        if version == 0:
            if not plain or plain[-1] == 0 or plain[-1] > BLOCK_SIZE:
                raise DecryptError("bad padding")
            plain = plain[: -plain[-1]]
        return plain
    raise DecryptError("no installed keys could decrypt the message")


class Keyring:
    """The ordered set of gossip keys; ``keys[0]`` is the primary (encrypting) key."""

    def __init__(self, keys: list[bytes] | None = None, primary: bytes | None = None) -> None:
        self._keys: list[bytes] = []
        for key in keys or []:
            self.add_key(key)
        if primary is not None:
            self.add_key(primary)
            self.use_key(primary)

    @staticmethod
    def validate(key: bytes) -> None:
        if len(key) not in KEY_SIZES:
            raise KeyringError("key size must be 16, 24 or 32 bytes")

    @staticmethod
    def decode_key(text: str) -> bytes:
        """Parse a base64 key as given on a command line or in a keyring file."""
        try:
            key = base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise KeyringError(f"invalid base64 key: {exc}") from None
        Keyring.validate(key)
        return key

    def add_key(self, key: bytes) -> None:
        """Install a key; the first key installed becomes primary."""
        self.validate(key)
        if key not in self._keys:
            self._keys.append(key)

    def use_key(self, key: bytes) -> None:
        """Make an installed key the primary."""
        if key not in self._keys:
            raise KeyringError("requested key is not in the keyring")
        self._keys.remove(key)
        self._keys.insert(0, key)

    def remove_key(self, key: bytes) -> None:
        if self._keys and key == self._keys[0]:
            raise KeyringError("removing the primary key is not allowed")
        if key in self._keys:
            self._keys.remove(key)

    @property
    def keys(self) -> list[bytes]:
        return list(self._keys)

    @property
    def primary_key(self) -> bytes | None:
        return self._keys[0] if self._keys else None

    def encrypt(self, version: int, plaintext: bytes, aad: bytes) -> bytes:
        if not self._keys:
            raise KeyringError("keyring is empty")
        return encrypt_payload(version, self._keys[0], plaintext, aad)

    def decrypt(self, payload: bytes, aad: bytes) -> bytes:
        return decrypt_payload(self._keys, payload, aad)
