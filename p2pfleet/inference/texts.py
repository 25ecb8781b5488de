"""Canonical text inputs (`P2TX`) for text models, and the bundled sample sentences.

  magic b"P2TX" | version uint8 (1) | reserved uint8 (0) | count uint16 LE
  | per text: length uint16 LE, UTF-8 bytes

Canonical rules (checked on decode): every text is valid UTF-8 in Unicode NFC,
1..MAX_TEXT_BYTES bytes, with no control characters other than tab; at most
MAX_TEXTS texts; no trailing bytes. One list of texts has exactly one encoding.
See protocol/outputs.md.
"""

from __future__ import annotations

import struct
import unicodedata
from functools import cache
from importlib import resources

MAGIC = b"P2TX"
VERSION = 1
MAX_TEXTS = 4096
MAX_TEXT_BYTES = 2048


class TextFormatError(ValueError):
    """Bytes are not a canonical P2TX text list."""


def _check_text(text: str, index: int) -> bytes:
    if unicodedata.normalize("NFC", text) != text:
        raise TextFormatError(f"text {index} is not in Unicode NFC (normalise it first)")
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in text):
        raise TextFormatError(f"text {index} contains control characters (only tab is allowed)")
    raw = text.encode("utf-8")
    if not 1 <= len(raw) <= MAX_TEXT_BYTES:
        raise TextFormatError(f"text {index} is {len(raw)} bytes; it must be 1..{MAX_TEXT_BYTES}")
    return raw


def encode_texts(texts: list[str]) -> bytes:
    if len(texts) > MAX_TEXTS:
        raise TextFormatError(f"{len(texts)} texts; at most {MAX_TEXTS} per input")
    parts = [MAGIC, struct.pack("<BBH", VERSION, 0, len(texts))]
    for index, text in enumerate(texts):
        raw = _check_text(text, index)
        parts += [struct.pack("<H", len(raw)), raw]
    return b"".join(parts)


def decode_texts(data: bytes) -> list[str]:
    if len(data) > 8 + MAX_TEXTS * (2 + MAX_TEXT_BYTES):
        raise TextFormatError(f"text input is {len(data)} bytes, over the limit")
    if data[:4] != MAGIC or len(data) < 8:
        raise TextFormatError("not a P2TX text input (bad magic or truncated header)")
    version, reserved, count = struct.unpack_from("<BBH", data, 4)
    if version != VERSION or reserved != 0:
        raise TextFormatError(f"unsupported P2TX version {version} / reserved byte {reserved}")
    if count > MAX_TEXTS:
        raise TextFormatError(f"{count} texts; at most {MAX_TEXTS}")
    texts, pos = [], 8
    for index in range(count):
        if pos + 2 > len(data):
            raise TextFormatError(f"truncated before text {index}")
        (size,) = struct.unpack_from("<H", data, pos)
        raw = data[pos + 2 : pos + 2 + size]
        if len(raw) != size:
            raise TextFormatError(f"text {index} is truncated")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TextFormatError(f"text {index} is not UTF-8: {exc}") from exc
        _check_text(text, index)
        texts.append(text)
        pos += 2 + size
    if pos != len(data):
        raise TextFormatError(f"{len(data) - pos} trailing bytes after the last text")
    return texts


def texts_from_lines(text: str) -> list[str]:
    """One input per non-blank line of a text file, NFC-normalised and stripped."""
    return [
        unicodedata.normalize("NFC", line.strip()) for line in text.splitlines() if line.strip()
    ]


@cache
def sample_sentences() -> tuple[str, ...]:
    """Project-written, vehicle and fleet themed sentences (and four unrelated ones)."""
    text = resources.files("p2pfleet.inference").joinpath("data/sentences.txt").read_text("utf-8")
    return tuple(line for line in text.splitlines() if line.strip())
