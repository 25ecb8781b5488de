"""The model fetch protocol against protocol/vectors/model-fetch.json, plus the state machine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest

from p2pfleet.core import errors
from p2pfleet.core.model_fetch import (
    MAX_CHUNK,
    MAX_FETCH_FRAME,
    MAX_MODEL_BYTES,
    REFUSE_CODES,
    Chunk,
    Download,
    DownloadState,
    End,
    FetchMessage,
    Have,
    ProviderLiedError,
    ProviderRefusedError,
    chunks_of,
    decode_fetch_message,
    encode_fetch_message,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "protocol/vectors/model-fetch.json").read_text()
)


def plain(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return bytes.fromhex(value["$bytes"])
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_limits_match_the_vectors() -> None:
    limits = VECTORS["limits"]
    assert limits == {
        "max_model_bytes": MAX_MODEL_BYTES,
        "max_chunk": MAX_CHUNK,
        "max_frame": MAX_FETCH_FRAME,
    }
    assert VECTORS["refuse_codes"] == list(REFUSE_CODES)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["name"])
def test_valid_frames_decode_and_reencode(case: dict[str, Any]) -> None:
    frame = bytes.fromhex(case["frame"])
    assert msgpack.unpackb(frame, raw=False) == plain(case["value"])
    assert encode_fetch_message(decode_fetch_message(frame)) == frame


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["name"])
def test_invalid_frames_raise_the_named_error(case: dict[str, Any]) -> None:
    with pytest.raises(getattr(errors, case["error"])):
        decode_fetch_message(bytes.fromhex(case["frame"]))


@pytest.mark.parametrize("case", VECTORS["sequences"], ids=lambda c: c["name"])
def test_download_sequences_reach_the_stated_verdict(case: dict[str, Any]) -> None:
    model = bytes.fromhex(VECTORS["model"]["hex"])
    expected_hash = bytes.fromhex(VECTORS["model"]["sha256"])
    download = Download(expected_hash, have=case["have"], max_size=case["max_size"])
    assert encode_fetch_message(download.request).hex() == case["request"]
    received = model[: case["have"]]
    verdict = "ok"
    try:
        for frame in case["frames"]:
            received += download.receive(decode_fetch_message(bytes.fromhex(frame)))
        if hashlib.sha256(received).digest() != expected_hash:
            verdict = "HashMismatch"
    except (ProviderLiedError, ProviderRefusedError) as exc:
        verdict = type(exc).__name__
    assert verdict == case["verdict"]
    if verdict == "ok":
        assert download.state is DownloadState.DONE and received == model


def test_nothing_is_accepted_after_end() -> None:
    data = b"x" * 10
    download = Download(hashlib.sha256(data).digest(), have=0)
    messages: list[FetchMessage] = [Have(size=10, offset=0), *chunks_of(data, 0), End()]
    for message in messages:
        download.receive(message)
    with pytest.raises(ProviderLiedError):
        download.receive(Chunk(offset=10, data=b"y"))


def test_chunks_cover_the_rest_of_the_file_in_bounded_pieces() -> None:
    data = bytes(range(256)) * 2049
    pieces = list(chunks_of(data, 1000))
    assert b"".join(p.data for p in pieces) == data[1000:]
    assert all(len(p.data) <= MAX_CHUNK for p in pieces)
    assert [p.offset for p in pieces] == list(range(1000, len(data), MAX_CHUNK))
