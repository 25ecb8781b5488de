"""The model fetch protocol `/p2pfleet/model/0.1.0`, sans-IO (protocol/model-fetch.md).

Theory of operation: one stream fetches one model. The fetcher sends `Get(model,
offset)`; the provider answers `Have(size, offset)` and then the bytes
[offset, size) as contiguous `Chunk`s of at most MAX_CHUNK bytes, then `End`, or
a single `Refuse`. `Download` is the fetcher's state machine: it checks every
message against what came before (offsets contiguous, nothing past the declared
size, the size within the limit) and raises ProviderLiedError on the first lie.
The final SHA-256 is checked by the caller over the whole file before any use.

  fetcher                        provider
     | ---- get(model, off) ------> |
     | <--- have(size, off) ------- |     or  <--- refuse(code, detail)
     | <--- chunk(off, data) ------ |  ×n
     | <--- end ------------------- |
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from p2pfleet.core import codec
from p2pfleet.core.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from p2pfleet.core.limits import KIB, MIB, DecodeLimits

FETCH_VERSION = 1
#: Largest model file the protocol moves (model files are at most 32 MiB today).
MAX_MODEL_BYTES = 64 * MIB
#: Largest chunk payload; a provider MUST NOT send more in one chunk.
MAX_CHUNK = 256 * KIB
#: Largest frame on the stream, before decoding.
MAX_FETCH_FRAME = MAX_CHUNK + 1 * KIB
FETCH_LIMITS = DecodeLimits(
    max_document=MAX_FETCH_FRAME, max_bin=MAX_CHUNK, max_str=1 * KIB, max_array=0, max_map=8
)
REFUSE_CODES = ("not-found", "busy", "bad-request", "bad-offset")


class ProviderLiedError(RemoteProtocolError):
    """The provider sent bytes that contradict its own claims or the model's hash."""


class ProviderRefusedError(RemoteProtocolError):
    """The provider answered `refuse` (it lacks the model, is busy, ...)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"provider refused: {code}: {detail}")
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class Get:
    model: bytes  # SHA-256 of the model file
    offset: int

    def __post_init__(self) -> None:
        if len(self.model) != 32 or not 0 <= self.offset <= MAX_MODEL_BYTES:
            raise ValueError("get needs a 32-byte model hash and 0 <= offset <= MAX_MODEL_BYTES")


@dataclass(frozen=True, slots=True, kw_only=True)
class Have:
    size: int
    offset: int

    def __post_init__(self) -> None:
        if not 0 <= self.offset <= self.size <= MAX_MODEL_BYTES:
            raise ValueError("have needs 0 <= offset <= size <= MAX_MODEL_BYTES")


@dataclass(frozen=True, slots=True, kw_only=True)
class Chunk:
    offset: int
    data: bytes

    def __post_init__(self) -> None:
        if not 1 <= len(self.data) <= MAX_CHUNK or not 0 <= self.offset < MAX_MODEL_BYTES:
            raise ValueError(f"a chunk carries 1..{MAX_CHUNK} bytes at an offset below the limit")


@dataclass(frozen=True, slots=True, kw_only=True)
class End:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Refuse:
    code: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.code not in REFUSE_CODES or len(self.detail) > 512:
            raise ValueError(f"refuse code must be one of {', '.join(REFUSE_CODES)}")


FetchMessage = Get | Have | Chunk | End | Refuse


def encode_fetch_message(message: FetchMessage) -> bytes:
    match message:
        case Get():
            body: dict[str, codec.Value] = {
                "t": "get",
                "v": FETCH_VERSION,
                "model": message.model,
                "off": message.offset,
            }
        case Have():
            body = {"t": "have", "size": message.size, "off": message.offset}
        case Chunk():
            body = {"t": "chunk", "off": message.offset, "data": message.data}
        case End():
            body = {"t": "end"}
        case Refuse():
            body = {"t": "refuse", "code": message.code, "detail": message.detail}
    return codec.encode(body)


def decode_fetch_message(frame: bytes) -> FetchMessage:
    """Decode one frame; DecodeError if malformed, over a limit or not canonical."""
    doc = codec.as_map(codec.decode(frame, FETCH_LIMITS), "model fetch message")
    kind = codec.field_str(doc, "t", max_len=8)
    message: FetchMessage
    try:
        match kind:
            case "get":
                if codec.field_int(doc, "v") != FETCH_VERSION:
                    raise DecodeError(f"model fetch version {doc.get('v')!r} is not supported")
                message = Get(
                    model=codec.field_bytes(doc, "model", size=32),
                    offset=codec.field_int(doc, "off", low=0, high=MAX_MODEL_BYTES),
                )
            case "have":
                message = Have(
                    size=codec.field_int(doc, "size", low=0, high=MAX_MODEL_BYTES),
                    offset=codec.field_int(doc, "off", low=0, high=MAX_MODEL_BYTES),
                )
            case "chunk":
                message = Chunk(
                    offset=codec.field_int(doc, "off", low=0, high=MAX_MODEL_BYTES),
                    data=codec.field_bytes(doc, "data", max_len=MAX_CHUNK),
                )
            case "end":
                message = End()
            case "refuse":
                message = Refuse(
                    code=codec.field_str(doc, "code", max_len=32),
                    detail=codec.field_str(doc, "detail", max_len=512),
                )
            case _:
                raise DecodeError(f"unknown model fetch message type {kind!r}")
    except ValueError as exc:
        raise DecodeError(f"invalid {kind} message: {exc}") from exc
    if encode_fetch_message(message) != frame:
        raise DecodeError(f"{kind} message has keys outside the schema")
    return message


def chunks_of(data: bytes, offset: int, chunk_size: int = MAX_CHUNK) -> Iterator[Chunk]:
    """The provider's chunks for `data[offset:]`."""
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise LocalProtocolError(f"chunk size must be 1..{MAX_CHUNK}")
    for start in range(offset, len(data), chunk_size):
        yield Chunk(offset=start, data=data[start : start + chunk_size])


class DownloadState(enum.Enum):
    AWAIT_HAVE = "await-have"
    RECEIVING = "receiving"
    DONE = "done"


class Download:
    """The fetcher's side of one stream: feed it messages, write what it returns."""

    def __init__(self, model: bytes, *, have: int, max_size: int = MAX_MODEL_BYTES) -> None:
        self.request = Get(model=model, offset=have)
        self.max_size = min(max_size, MAX_MODEL_BYTES)
        self.state = DownloadState.AWAIT_HAVE
        self.size = -1
        self.next_offset = have

    def receive(self, message: FetchMessage) -> bytes:
        """Bytes to append to the partial file (b"" for control messages).

        ProviderRefusedError on `refuse`; ProviderLiedError on anything that
        contradicts the request or the provider's earlier messages.
        """
        if isinstance(message, Refuse):
            raise ProviderRefusedError(message.code, message.detail)
        if self.state is DownloadState.AWAIT_HAVE:
            if not isinstance(message, Have):
                raise ProviderLiedError(f"expected have, got {type(message).__name__.lower()}")
            if message.offset != self.next_offset:
                raise ProviderLiedError(
                    f"asked from offset {self.next_offset}, provider starts at {message.offset}"
                )
            if message.size > self.max_size:
                raise ProviderLiedError(
                    f"provider claims {message.size} bytes, over this node's {self.max_size}-byte limit"
                )
            self.size = message.size
            self.state = DownloadState.RECEIVING
            return b""
        if self.state is DownloadState.RECEIVING:
            if isinstance(message, Chunk):
                if message.offset != self.next_offset:
                    raise ProviderLiedError(
                        f"chunk at offset {message.offset}, expected {self.next_offset}"
                    )
                if message.offset + len(message.data) > self.size:
                    raise ProviderLiedError(f"chunk runs past the declared size {self.size}")
                self.next_offset += len(message.data)
                return message.data
            if isinstance(message, End):
                if self.next_offset != self.size:
                    raise ProviderLiedError(
                        f"end after {self.next_offset} of the declared {self.size} bytes"
                    )
                self.state = DownloadState.DONE
                return b""
            raise ProviderLiedError(f"unexpected {type(message).__name__.lower()} mid-transfer")
        raise ProviderLiedError("message after end")
