"""AES-256-GCM encryption of secrets with key ids, so keys can rotate.

A keyring is configured as ``id:base64key[,id:base64key...]``; the first key encrypts, every key decrypts.
Ciphertexts carry their key id: ``enc:v1:<key id>:<base64(nonce | tag | ciphertext)>``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

PREFIX = "enc:v1:"
NONCE_BYTES = 12
TAG_BYTES = 16


class KeyringError(ValueError):
    pass


class DecryptionError(ValueError):
    pass


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]
    current_id: str

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key_id, sep, encoded = part.partition(":")
            if not sep or not key_id:
                raise KeyringError("encryption key entries must look like 'id:base64key'")
            try:
                key = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise KeyringError(f"encryption key {key_id!r} is not valid base64") from exc
            if len(key) != 32:
                raise KeyringError(f"encryption key {key_id!r} must be 32 bytes (AES-256), got {len(key)}")
            keys[key_id] = key
            order.append(key_id)
        if not order:
            raise KeyringError("no encryption key configured")
        return cls(keys=keys, current_id=order[0])

    def encrypt_bytes(self, plaintext: bytes, aad: bytes = b"") -> tuple[str, bytes]:
        nonce = get_random_bytes(NONCE_BYTES)
        cipher = AES.new(self.keys[self.current_id], AES.MODE_GCM, nonce=nonce)
        cipher.update(aad)
        ciphertext, tag = cipher.encrypt_and_digest(plaintext)
        return self.current_id, nonce + tag + ciphertext

    def decrypt_bytes(self, key_id: str, blob: bytes, aad: bytes = b"") -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"unknown encryption key id {key_id!r}")
        nonce, tag, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES : NONCE_BYTES + TAG_BYTES], blob[28:]
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
        cipher.update(aad)
        try:
            return cipher.decrypt_and_verify(ciphertext, tag)
        except ValueError as exc:
            raise DecryptionError("ciphertext failed authentication") from exc

    def encrypt(self, plaintext: str) -> str:
        key_id, blob = self.encrypt_bytes(plaintext.encode())
        return f"{PREFIX}{key_id}:{base64.b64encode(blob).decode()}"

    def decrypt(self, token: str) -> str:
        if not is_encrypted(token):
            raise DecryptionError("value is not an encrypted secret")
        key_id, _, encoded = token[len(PREFIX) :].partition(":")
        return self.decrypt_bytes(key_id, base64.b64decode(encoded)).decode()


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def get_keyring() -> Keyring:
    from wegent.config import get_settings

    return _parsed_keyring(get_settings().encryption_keyring_spec)


@lru_cache(maxsize=8)
def _parsed_keyring(spec: str) -> Keyring:
    # Parsed once per key set, not per request; a changed configuration is a different spec string.
    return Keyring.parse(spec)
