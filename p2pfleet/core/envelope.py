"""Signed envelopes: sign bytes, not objects, one domain string per purpose.

Wire layout (fixed offsets, so nothing is decoded before the signature is
checked)::

    version (1 byte, = 1) || signer public key (32) || signature (64) || payload

    signature = Ed25519(uvarint(len(domain)) || domain || payload)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from p2pfleet.core.errors import DecodeError, LimitExceededError
from p2pfleet.core.identity import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, Identity, verify_signature

ENVELOPE_VERSION = 1
HEADER_SIZE = 1 + PUBLIC_KEY_SIZE + SIGNATURE_SIZE


class Domain(StrEnum):
    """Signature domains: a signature for one purpose is never valid for another."""

    ADVERT = "p2pfleet/advert/1"
    MANIFEST = "p2pfleet/manifest/1"
    COMMIT = "p2pfleet/commit/1"
    RESULT = "p2pfleet/result/1"
    ABANDON = "p2pfleet/abandon/1"
    REGION_CERT = "p2pfleet/region-cert/1"
    STATUS = "p2pfleet/status/1"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A verified envelope: `payload` is authentic for `signer` in `domain`."""

    domain: Domain
    signer: bytes
    signature: bytes
    payload: bytes

    def to_bytes(self) -> bytes:
        return bytes([ENVELOPE_VERSION]) + self.signer + self.signature + self.payload


def uvarint(number: int) -> bytes:
    if number < 0:
        raise ValueError("uvarint cannot encode a negative number")
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def signing_input(domain: Domain, payload: bytes) -> bytes:
    tag = domain.value.encode()
    return uvarint(len(tag)) + tag + payload


def seal(identity: Identity, domain: Domain, payload: bytes) -> Envelope:
    signature = identity.sign(signing_input(domain, payload))
    return Envelope(domain, identity.public_key, signature, payload)


def open_envelope(data: bytes, domain: Domain, *, max_size: int) -> Envelope:
    """Parse and verify `data` for `domain`; the payload is not decoded here.

    Raises `LimitExceededError`, `DecodeError` or `SignatureError`.
    """
    if len(data) > max_size:
        raise LimitExceededError(f"envelope is {len(data)} bytes, limit is {max_size}")
    if len(data) < HEADER_SIZE:
        raise DecodeError(
            f"envelope is {len(data)} bytes, shorter than its {HEADER_SIZE}-byte header"
        )
    if data[0] != ENVELOPE_VERSION:
        raise DecodeError(
            f"envelope version {data[0]} is not supported (expected {ENVELOPE_VERSION})"
        )
    signer = data[1 : 1 + PUBLIC_KEY_SIZE]
    signature = data[1 + PUBLIC_KEY_SIZE : HEADER_SIZE]
    payload = data[HEADER_SIZE:]
    verify_signature(signer, signing_input(domain, payload), signature)
    return Envelope(domain, signer, signature, payload)
