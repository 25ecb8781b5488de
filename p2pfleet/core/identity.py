"""Node identity: one 32-byte Ed25519 seed is both the PeerId key and the signing key.

The libp2p PeerId of an Ed25519 key is the identity multihash of the
protobuf-encoded public key, in base58btc; it is computed here without libp2p
so the core can map peers to keys and back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from p2pfleet.core.errors import KeyFileError, SignatureError

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# identity multihash (0x00, length 36) of protobuf PublicKey{Type: Ed25519, Data: 32 bytes}
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


@dataclass(frozen=True, slots=True)
class Identity:
    """A node's (or submitter's, or authority's) private identity."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_SIZE:
            raise KeyFileError(f"an identity seed is {SEED_SIZE} bytes, got {len(self.seed)}")

    @property
    def public_key(self) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @property
    def peer_id(self) -> str:
        return peer_id_from_public_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return nacl.signing.SigningKey(self.seed).sign(message).signature

    def __repr__(self) -> str:  # never print the seed
        return f"Identity(peer_id={self.peer_id!r})"


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise `SignatureError` unless `signature` is valid for `message` under `public_key`."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise SignatureError("malformed Ed25519 key or signature length")
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as exc:
        raise SignatureError("signature does not verify") from exc


def peer_id_from_public_key(public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_SIZE} bytes")
    return _b58encode(_PEER_ID_PREFIX + public_key)


def public_key_from_peer_id(peer_id: str) -> bytes:
    """Extract the Ed25519 public key embedded in an Ed25519 PeerId."""
    raw = _b58decode(peer_id)
    if len(raw) != len(_PEER_ID_PREFIX) + PUBLIC_KEY_SIZE or not raw.startswith(_PEER_ID_PREFIX):
        raise ValueError(f"{peer_id!r} is not an Ed25519 PeerId")
    return raw[len(_PEER_ID_PREFIX) :]


def key_fingerprint(public_key: bytes) -> str:
    """Short human handle for a key (owner ids, logs): first 8 bytes of SHA-256, hex."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58_ALPHABET[rem] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _B58_ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + body
