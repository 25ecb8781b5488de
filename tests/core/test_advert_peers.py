"""Adverts (payload, size budget) and the peer table's receiver rules."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2pfleet.core.addrcodec import decode_addr, encode_addr
from p2pfleet.core.advert import (
    ADVERT_BUDGET_BYTES,
    MAX_CLOCK_SKEW_MS,
    MAX_TTL_MS,
    MODEL_ID_SIZE,
    VehicleState,
    model_id,
    sign_advert,
    verify_advert,
)
from p2pfleet.core.envelope import Domain, seal
from p2pfleet.core.errors import (
    DecodeError,
    LimitExceededError,
    LocalProtocolError,
    SignatureError,
)
from p2pfleet.core.limits import MAX_ADVERT_ADDRS, MAX_ADVERT_BYTES, MAX_ADVERT_MODELS
from p2pfleet.core.peers import AdvertVerdict, PeerTable

from .factories import T0, advert, digest, identity, signed_advert

RELAY_ID = identity(77).peer_id
CIRCUIT = f"/ip4/198.51.100.7/tcp/4001/p2p/{RELAY_ID}/p2p-circuit"
FULL = advert(
    models=tuple(digest(f"model-{i}") for i in range(MAX_ADVERT_MODELS)),
    addrs=("/ip4/203.0.113.77/tcp/40001", "/ip6/2001:db8:85a3::8a2e:370:7334/tcp/40001"),
    region="eu-west-paris",
    departure_ms=T0 + 8 * 3_600_000,
    seq=2**40,
    energy_left_wh=100_000,
)


def test_size_budget_with_circuit_address_and_region_cert() -> None:
    # protocol/advert.md, "Size budget": the realistic worst case stays within 512 bytes
    worst = replace(
        FULL,
        addrs=(*FULL.addrs, "/ip6/2001:db8::77/tcp/40001", CIRCUIT),
        region_cert=bytes(150),
    )
    assert len(sign_advert(identity(1), worst).wire) <= ADVERT_BUDGET_BYTES
    assert len(sign_advert(identity(1), FULL).wire) <= 320
    # a maximal 256-byte certificate still fits under the hard cap
    assert len(sign_advert(identity(1), replace(worst, region_cert=bytes(256))).wire) <= (
        MAX_ADVERT_BYTES
    )


def test_models_travel_as_short_ids() -> None:
    back = verify_advert(sign_advert(identity(1), FULL).wire).advert
    assert back == FULL
    assert all(len(m) == MODEL_ID_SIZE for m in back.models)
    assert back.has_model(digest("model-3"))
    assert not back.has_model(digest("model-9"))
    assert back.models[3] == model_id(digest("model-3"))


def test_sign_refuses_an_advert_receivers_would_drop() -> None:
    huge = advert(
        models=tuple(digest(str(i)) for i in range(MAX_ADVERT_MODELS)),
        addrs=tuple(f"/dns4/{'a' * 117}{i}/tcp/1" for i in range(MAX_ADVERT_ADDRS)),
        region="r" * 64,
        region_cert=bytes(256),
    )
    with pytest.raises(LocalProtocolError):
        sign_advert(identity(1), huge)
    wire = seal(identity(1), Domain.ADVERT, huge.to_payload()).to_bytes()
    with pytest.raises(LimitExceededError):
        verify_advert(wire)


@pytest.mark.parametrize(
    "text",
    [
        "/ip4/127.0.0.1/tcp/0",
        "/ip6/::1/tcp/65535",
        "/dns4/relay.example.net/tcp/4001",
        "/dns/vehicle-7.example.org/tcp/443",
        CIRCUIT,
        f"/ip6/2001:db8::1/tcp/1/p2p/{RELAY_ID}/p2p-circuit/p2p/{identity(5).peer_id}",
    ],
)
def test_binary_multiaddr_round_trip(text: str) -> None:
    data = encode_addr(text)
    assert decode_addr(data) == text


def test_binary_multiaddr_matches_the_multiformats_encoding() -> None:
    # /ip4/127.0.0.1/tcp/4001: code 4, 4 bytes; code 6, port big-endian
    assert encode_addr("/ip4/127.0.0.1/tcp/4001") == bytes.fromhex("047f000001060fa1")
    # p2p-circuit is code 290 = uvarint a202, no value
    assert encode_addr(CIRCUIT).endswith(bytes.fromhex("a202"))


@pytest.mark.parametrize(
    "text",
    ["ip4/1.2.3.4", "/udp/53", "/ip4/1.2.3.4/tcp/70000", "/ip4/1.2.3/tcp/1", "/tcp", "/p2p/0OIl"],
)
def test_binary_multiaddr_refuses_what_adverts_do_not_carry(text: str) -> None:
    with pytest.raises(ValueError):
        encode_addr(text)


@given(st.binary(max_size=200))
def test_binary_multiaddr_decoder_never_crashes(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        assert decode_addr(encode_addr(decode_addr(data))) == decode_addr(data)


def test_round_trip_and_peer_id() -> None:
    signed = sign_advert(identity(3), FULL)
    back = verify_advert(signed.wire)
    assert back.advert == FULL
    assert back.node_key == identity(3).public_key
    assert back.peer_id == identity(3).peer_id


def test_forged_and_misdirected_adverts() -> None:
    wire = sign_advert(identity(1), FULL).wire
    forged = wire[:1] + identity(2).public_key + wire[33:]
    with pytest.raises(SignatureError):
        verify_advert(forged)
    with pytest.raises(SignatureError):
        verify_advert(seal(identity(1), Domain.MANIFEST, FULL.to_payload()).to_bytes())


@given(st.binary(max_size=1200))
def test_arbitrary_signed_payload_is_a_remote_error(payload: bytes) -> None:
    with contextlib.suppress(DecodeError, LimitExceededError):
        verify_advert(seal(identity(1), Domain.ADVERT, payload).to_bytes())


@pytest.mark.parametrize(
    "changes",
    [
        {"battery_pct": 101},
        {"ttl_ms": 0},
        {"ttl_ms": MAX_TTL_MS + 1},
        {"owner": b"\x00" * 31},
        {"models": (b"\x00" * 31,)},
        {"models": (b"\x00" * 32,) * (MAX_ADVERT_MODELS + 1)},
        {"addrs": ("/ip4/1.2.3.4/tcp/1",) * (MAX_ADVERT_ADDRS + 1)},
        {"addrs": ("/ip4/1.2.3.4/udp/1/quic",)},
        {"region_cert": bytes(257)},
        {"seq": -1},
        {"free_slots": -1},
    ],
)
def test_constructor_validates(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        advert(**changes)


def test_accepts_work() -> None:
    assert advert(state=VehicleState.PARKED).accepts_work
    assert advert(state=VehicleState.CHARGING).accepts_work
    assert not advert(state=VehicleState.DRIVING).accepts_work
    assert not advert(state=VehicleState.OFFLINE).accepts_work
    assert not advert(free_slots=0).accepts_work


# -- peer table ------------------------------------------------------------------


def test_accepts_then_refuses_replays() -> None:
    table = PeerTable()
    assert table.offer(signed_advert(1, seq=5), T0) is AdvertVerdict.ACCEPTED
    assert table.offer(signed_advert(1, seq=5), T0) is AdvertVerdict.REPLAYED
    assert table.offer(signed_advert(1, seq=4, battery_pct=10), T0) is AdvertVerdict.REPLAYED
    assert table.get(identity(1).public_key) is not None
    assert table.get(identity(1).public_key).advert.battery_pct == 70  # type: ignore[union-attr]
    assert table.offer(signed_advert(1, seq=6, battery_pct=60), T0) is AdvertVerdict.ACCEPTED
    # seq is per node key: another node's seq 1 is fine
    assert table.offer(signed_advert(2, seq=1), T0) is AdvertVerdict.ACCEPTED
    assert len(table) == 2


def test_expiry_boundary() -> None:
    table = PeerTable()
    a = signed_advert(1, seq=1, ttl_ms=1000)
    assert table.offer(a, T0 + 1000) is AdvertVerdict.EXPIRED
    assert table.offer(a, T0 + 999) is AdvertVerdict.ACCEPTED
    assert table.live(T0 + 999) == [a]
    assert table.live(T0 + 1000) == []
    assert table.expire(T0 + 1000) == [a]
    assert len(table) == 0
    # expiry forgets the entry but not the seq: the old advert cannot come back
    assert table.offer(a, T0 + 500) is AdvertVerdict.REPLAYED


def test_from_future_boundary() -> None:
    table = PeerTable()
    now = T0 - MAX_CLOCK_SKEW_MS
    assert table.offer(signed_advert(1, seq=1), now - 1) is AdvertVerdict.FROM_FUTURE
    assert table.offer(signed_advert(1, seq=1), now) is AdvertVerdict.ACCEPTED


def test_rejected_adverts_do_not_consume_seq() -> None:
    table = PeerTable()
    assert table.offer(signed_advert(1, seq=9, ttl_ms=10), T0 + 10) is AdvertVerdict.EXPIRED
    assert table.offer(signed_advert(1, seq=9), T0) is AdvertVerdict.ACCEPTED


def test_protocol_ids_and_topics() -> None:
    from p2pfleet.core.protocol_ids import TASK_PROTOCOL, advert_topic

    assert TASK_PROTOCOL == "/p2pfleet/task/0.1.0"
    assert advert_topic("eu-west-paris") == "p2pfleet/adverts/1/eu-west-paris"
    for bad in ("", "a/b", "r" * 65):
        with pytest.raises(ValueError):
            advert_topic(bad)
