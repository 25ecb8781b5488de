"""Node identity: one 32-byte Ed25519 seed is the libp2p PeerId key.

- The libp2p identity key is `Ed25519(seed)` (PyNaCl `SigningKey(seed)`), so the
  PeerId (`12D3KooW...`, identity multihash of the protobuf public key) and the
  node's envelope signing key are the same key.
- The Noise static key (X25519) is derived, not random, so a restarted node
  presents the same static key: `x25519_secret = SHA-256(uvarint(len(D)) || D ||
  seed)` with domain `D = "p2pfleet/noise-static/1"` (X25519 clamps the scalar).
  Noise binds it to the identity by the signed handshake payload, so its value
  is not security-relevant beyond being secret.
"""

from __future__ import annotations

import hashlib
from typing import Any

from libp2p.crypto.ed25519 import Ed25519PublicKey
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import X25519PrivateKey
from libp2p.identity_utils import create_identity_from_seed
from libp2p.peer.id import ID

from p2pfleet.net.framing import encode_uvarint

SEED_SIZE = 32
NOISE_STATIC_DOMAIN = b"p2pfleet/noise-static/1"


def _check_seed(seed: bytes) -> None:
    if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
        size = len(seed) if isinstance(seed, bytes | bytearray) else type(seed).__name__
        raise ValueError(f"identity seed must be {SEED_SIZE} bytes, got {size}")


def key_pair_from_seed(seed: bytes) -> KeyPair:
    """The libp2p Ed25519 key pair for `seed`."""
    _check_seed(seed)
    return create_identity_from_seed(seed)


def noise_static_key_from_seed(seed: bytes) -> X25519PrivateKey:
    """The deterministic Noise static key for `seed` (see module docstring)."""
    _check_seed(seed)
    secret = hashlib.sha256(
        encode_uvarint(len(NOISE_STATIC_DOMAIN)) + NOISE_STATIC_DOMAIN + seed
    ).digest()
    return X25519PrivateKey.from_bytes(secret)


def peer_id_from_seed(seed: bytes) -> str:
    """The base58 PeerId string (`12D3KooW...`) of the node with this seed."""
    return str(ID.from_pubkey(key_pair_from_seed(seed).public_key).to_base58())


def peer_id_from_public_key(public_key: bytes) -> str:
    """The base58 PeerId string of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError(f"Ed25519 public key must be 32 bytes, got {len(public_key)}")
    return str(ID.from_pubkey(Ed25519PublicKey.from_bytes(public_key)).to_base58())


def parse_peer_id(peer_id: str) -> Any:
    """Parse an Ed25519 PeerId string (`12D3KooW...`) into a libp2p `ID`.

    ValueError if it is not one: p2pfleet peers are Ed25519 only.
    """
    try:
        parsed = ID.from_base58(peer_id)
        ed25519_public_key_of(parsed)
    except Exception as exc:
        raise ValueError(f"not a valid Ed25519 peer id: {peer_id!r}") from exc
    return parsed


def ed25519_public_key_of(peer_id: Any) -> bytes:
    """Raw 32-byte Ed25519 key embedded in a libp2p `ID`; ValueError otherwise.

    p2pfleet peers are Ed25519 only: their PeerId is an identity multihash that
    carries the public key, authenticated by the Noise handshake.
    """
    try:
        key = peer_id.extract_public_key()
    except Exception as exc:
        raise ValueError(f"peer {peer_id} does not embed a public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(
            f"peer {peer_id} uses a {type(key).__name__}, p2pfleet requires Ed25519 identities"
        )
    raw = key.to_bytes()
    if len(raw) != 32:
        raise ValueError(f"peer {peer_id} has a malformed Ed25519 key ({len(raw)} bytes)")
    return bytes(raw)
