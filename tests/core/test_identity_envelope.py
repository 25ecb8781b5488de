"""Identity (seed -> Ed25519 -> PeerId) and domain-separated envelopes."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pfleet.core.envelope import (
    ENVELOPE_VERSION,
    HEADER_SIZE,
    Domain,
    open_envelope,
    seal,
    signing_input,
    uvarint,
)
from p2pfleet.core.errors import DecodeError, KeyFileError, LimitExceededError, SignatureError
from p2pfleet.core.identity import (
    Identity,
    peer_id_from_public_key,
    public_key_from_peer_id,
    verify_signature,
)

from .factories import identity


@given(st.binary(min_size=32, max_size=32))
@settings(max_examples=25, deadline=None)
def test_peer_id_matches_libp2p(seed: bytes) -> None:
    from libp2p.crypto.ed25519 import Ed25519PrivateKey
    from libp2p.peer.id import ID

    ours = Identity(seed)
    theirs = Ed25519PrivateKey.from_bytes(seed)
    assert ours.public_key == theirs.get_public_key().to_bytes()
    assert ours.peer_id == ID.from_pubkey(theirs.get_public_key()).to_base58()
    assert public_key_from_peer_id(ours.peer_id) == ours.public_key
    # signatures are interchangeable with libp2p's key
    assert theirs.get_public_key().verify(b"msg", ours.sign(b"msg"))


def test_peer_id_matches_libp2p_identity_utils() -> None:
    from libp2p.identity_utils import create_identity_from_seed
    from libp2p.peer.id import ID

    seed = bytes(range(32))
    key_pair = create_identity_from_seed(seed)
    assert Identity(seed).peer_id == ID.from_pubkey(key_pair.public_key).to_base58()


def test_peer_id_rejects_other_keys() -> None:
    with pytest.raises(ValueError):
        peer_id_from_public_key(b"\x00" * 31)
    with pytest.raises(ValueError):
        public_key_from_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")  # RSA/sha256
    with pytest.raises(ValueError):
        public_key_from_peer_id("12D3KooW0")  # '0' is not base58


def test_seed_size_and_repr() -> None:
    with pytest.raises(KeyFileError):
        Identity(b"\x00" * 31)
    ident = identity(1)
    assert ident.seed.hex() not in repr(ident)
    assert ident.peer_id in repr(ident)


@pytest.mark.parametrize(
    ("number", "encoded"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (16384, "808001")],
)
def test_uvarint(number: int, encoded: str) -> None:
    assert uvarint(number).hex() == encoded


def test_signing_input_layout() -> None:
    for domain in Domain:
        tag = domain.value.encode()
        assert tag.startswith(b"p2pfleet/") and tag.endswith(b"/1")
        assert signing_input(domain, b"PAY") == bytes([len(tag)]) + tag + b"PAY"


def test_envelope_layout_and_round_trip() -> None:
    ident = identity(1)
    env = seal(ident, Domain.COMMIT, b"payload")
    wire = env.to_bytes()
    assert wire[0] == ENVELOPE_VERSION == 1
    assert wire[1:33] == ident.public_key
    assert len(wire) == HEADER_SIZE + len(b"payload")
    verify_signature(ident.public_key, signing_input(Domain.COMMIT, b"payload"), wire[33:97])
    assert open_envelope(wire, Domain.COMMIT, max_size=len(wire)) == env


@pytest.mark.parametrize(("signed", "opened"), list(itertools.permutations(Domain, 2)))
def test_domain_separation(signed: Domain, opened: Domain) -> None:
    wire = seal(identity(1), signed, b"same payload").to_bytes()
    with pytest.raises(SignatureError):
        open_envelope(wire, opened, max_size=1024)


def test_domain_prefixes_are_prefix_free() -> None:
    # a signature for (d1, p) can only verify as (d2, q) if one prefix is a prefix of the other
    prefixes = [signing_input(domain, b"") for domain in Domain]
    for a, b in itertools.permutations(prefixes, 2):
        assert not b.startswith(a)


@given(st.binary(max_size=200), st.integers(min_value=0))
@settings(max_examples=200)
def test_any_single_bit_flip_is_caught(payload: bytes, where: int) -> None:
    wire = bytearray(seal(identity(2), Domain.RESULT, payload).to_bytes())
    index = where % (len(wire) * 8)
    wire[index // 8] ^= 1 << (index % 8)
    with pytest.raises((SignatureError, DecodeError)):
        open_envelope(bytes(wire), Domain.RESULT, max_size=4096)


def test_malformed_envelopes() -> None:
    wire = seal(identity(1), Domain.ADVERT, b"p").to_bytes()
    with pytest.raises(DecodeError):
        open_envelope(wire[: HEADER_SIZE - 1], Domain.ADVERT, max_size=1024)
    with pytest.raises(DecodeError, match="version"):
        open_envelope(b"\x02" + wire[1:], Domain.ADVERT, max_size=1024)
    with pytest.raises(LimitExceededError):
        open_envelope(wire, Domain.ADVERT, max_size=len(wire) - 1)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_remote_errors(data: bytes) -> None:
    with contextlib.suppress(SignatureError, DecodeError):
        open_envelope(data, Domain.MANIFEST, max_size=256)
