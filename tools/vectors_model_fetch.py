"""Test vectors for `/p2pfleet/model/0.1.0` (protocol/model-fetch.md).

Registered in tools/gen_vectors.py; writes protocol/vectors/model-fetch.json:
one valid frame per message, invalid frames with the error they must raise, and
download sequences (provider messages for a small model) with their verdict.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from p2pfleet.core import codec
from p2pfleet.core.errors import P2pFleetError
from p2pfleet.core.model_fetch import (
    FETCH_LIMITS,
    FETCH_VERSION,
    MAX_CHUNK,
    MAX_FETCH_FRAME,
    MAX_MODEL_BYTES,
    REFUSE_CODES,
    Chunk,
    Download,
    End,
    FetchMessage,
    Get,
    Have,
    Refuse,
    chunks_of,
    decode_fetch_message,
    encode_fetch_message,
)
from p2pfleet.core.protocol_ids import MODEL_PROTOCOL

# A small stand-in "model file": the vectors exercise framing, not a network.
MODEL = bytes(range(256)) * 3 + b"p2pfleet model-fetch vector"
MODEL_HASH = hashlib.sha256(MODEL).digest()
VECTOR_CHUNK = 256  # chunk size used in the sequences (any 1..MAX_CHUNK is allowed)


def _js(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, dict):
        return {k: _js(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js(v) for v in value]
    return value


def _raw(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _valid(name: str, message: FetchMessage) -> dict[str, Any]:
    frame = encode_fetch_message(message)
    assert decode_fetch_message(frame) == message
    return {"name": name, "frame": frame.hex(), "value": _js(codec.decode(frame, FETCH_LIMITS))}


def _invalid(name: str, frame: bytes, why: str) -> dict[str, Any]:
    try:
        decode_fetch_message(frame)
    except P2pFleetError:
        return {"name": name, "frame": frame.hex(), "error": "DecodeError", "why": why}
    except Exception as exc:  # pragma: no cover - the generator refuses a wrong vector
        raise AssertionError(f"{name}: raised {type(exc).__name__}, not DecodeError") from exc
    raise AssertionError(f"invalid vector {name!r} was accepted")


def _sequence(name: str, have: int, messages: list[FetchMessage], why: str) -> dict[str, Any]:
    download = Download(MODEL_HASH, have=have, max_size=4096)
    received = MODEL[:have]
    verdict = "ok"
    try:
        for message in messages:
            received += download.receive(message)
        if hashlib.sha256(received).digest() != MODEL_HASH:
            verdict = "HashMismatch"
    except P2pFleetError as exc:
        verdict = type(exc).__name__
    return {
        "name": name,
        "why": why,
        "have": have,
        "max_size": 4096,
        "request": encode_fetch_message(download.request).hex(),
        "frames": [encode_fetch_message(m).hex() for m in messages],
        "verdict": verdict,
    }


def model_fetch_vectors() -> dict[str, Any]:
    honest: list[FetchMessage] = [
        Have(size=len(MODEL), offset=0),
        *chunks_of(MODEL, 0, VECTOR_CHUNK),
        End(),
    ]
    resumed: list[FetchMessage] = [
        Have(size=len(MODEL), offset=300),
        *chunks_of(MODEL, 300, VECTOR_CHUNK),
        End(),
    ]
    garbage = bytes(b ^ 0x5A for b in MODEL)
    get = {"t": "get", "v": FETCH_VERSION, "model": MODEL_HASH, "off": 0}
    return {
        "title": f"model fetch {MODEL_PROTOCOL}",
        "spec": "model-fetch.md",
        "generated_by": "tools/gen_vectors.py (tools/vectors_model_fetch.py)",
        "bytes_encoding": 'byte strings in decoded values are {"$bytes": "<hex>"}',
        "limits": {
            "max_model_bytes": MAX_MODEL_BYTES,
            "max_chunk": MAX_CHUNK,
            "max_frame": MAX_FETCH_FRAME,
        },
        "refuse_codes": list(REFUSE_CODES),
        "model": {"hex": MODEL.hex(), "sha256": MODEL_HASH.hex()},
        "valid": [
            _valid("get from the start", Get(model=MODEL_HASH, offset=0)),
            _valid("get resuming at byte 300", Get(model=MODEL_HASH, offset=300)),
            _valid("have", Have(size=len(MODEL), offset=0)),
            _valid("chunk", Chunk(offset=256, data=MODEL[256:512])),
            _valid("end", End()),
            _valid("refuse", Refuse(code="not-found", detail="model not stored")),
        ],
        "invalid": [
            _invalid("unknown type", _raw({"t": "put"}), "no such message"),
            _invalid("get, version 2", _raw({**get, "v": 2}), "unsupported version"),
            _invalid("get, 31-byte hash", _raw({**get, "model": MODEL_HASH[:31]}), "hash size"),
            _invalid("get, negative offset", _raw({**get, "off": -1}), "offset out of range"),
            _invalid("get, extra key", _raw({**get, "x": 1}), "key outside the schema"),
            _invalid(
                "get, keys not sorted",
                _raw({"v": 1, "t": "get", "off": 0, "model": MODEL_HASH}),
                "not canonical msgpack",
            ),
            _invalid("have, offset past size", _raw({"t": "have", "size": 5, "off": 6}), "range"),
            _invalid(
                "have, size over the limit",
                _raw({"t": "have", "size": MAX_MODEL_BYTES + 1, "off": 0}),
                "model too large",
            ),
            _invalid("chunk, empty", _raw({"t": "chunk", "off": 0, "data": b""}), "empty chunk"),
            _invalid("chunk, str data", _raw({"t": "chunk", "off": 0, "data": "x"}), "not bin"),
            _invalid(
                "refuse, unknown code", _raw({"t": "refuse", "code": "x", "detail": ""}), "code"
            ),
            _invalid("trailing bytes", encode_fetch_message(End()) + b"\x00", "two documents"),
        ],
        "sequences": [
            _sequence("honest", 0, honest, "complete, hash verifies"),
            _sequence("resumed at 300", 300, resumed, "resume from a partial file"),
            _sequence(
                "garbage bytes",
                0,
                [Have(size=len(garbage), offset=0), *chunks_of(garbage, 0, VECTOR_CHUNK), End()],
                "well-formed but wrong bytes: only the SHA-256 check catches it",
            ),
            _sequence("gap", 0, [honest[0], honest[1], honest[3]], "chunk offsets not contiguous"),
            _sequence(
                "early end", 0, [honest[0], honest[1], End()], "end before the declared size"
            ),
            _sequence(
                "overrun",
                0,
                [Have(size=100, offset=0), Chunk(offset=0, data=MODEL[:200])],
                "chunk past the declared size",
            ),
            _sequence("wrong start", 300, honest, "have.offset differs from get.offset"),
            _sequence(
                "size over the fetcher's limit",
                0,
                [Have(size=5000, offset=0)],
                "claims more than the state machine's max_size (4096 here; MAX_MODEL_BYTES on the wire)",
            ),
            _sequence("refused", 0, [Refuse(code="busy", detail="")], "provider refuses"),
        ],
    }
