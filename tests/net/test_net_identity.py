from __future__ import annotations

import nacl.signing
import pytest

from p2pfleet.net.identity import (
    ed25519_public_key_of,
    noise_static_key_from_seed,
    parse_peer_id,
    peer_id_from_public_key,
    peer_id_from_seed,
)

from ._support import seed


def test_peer_id_is_the_pynacl_key_of_the_seed() -> None:
    verify_key = bytes(nacl.signing.SigningKey(seed("a")).verify_key)
    peer_id = peer_id_from_seed(seed("a"))
    assert peer_id.startswith("12D3KooW")
    assert peer_id == peer_id_from_public_key(verify_key)
    assert ed25519_public_key_of(parse_peer_id(peer_id)) == verify_key
    assert peer_id != peer_id_from_seed(seed("b"))


def test_noise_static_key_is_deterministic_and_per_seed() -> None:
    def public(name: str) -> bytes:
        return bytes(noise_static_key_from_seed(seed(name)).get_public_key().to_bytes())

    assert public("a") == public("a")
    assert public("a") != public("b")


def test_bad_inputs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        peer_id_from_seed(b"short")
    with pytest.raises(ValueError, match="peer id"):
        parse_peer_id("not-a-peer-id")


def test_package_exports_resolve_lazily() -> None:
    import p2pfleet.net as net

    for name in net.__all__:
        assert getattr(net, name) is not None, name
    with pytest.raises(AttributeError):
        _ = net.no_such_name
