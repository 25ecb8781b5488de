"""Binary multiaddrs for adverts: the multiformats encoding, for the subset p2pfleet dials.

A binary multiaddr is a sequence of `uvarint(code) value` components, where a
fixed-size value is written as is and a variable-size one is length-prefixed
(https://github.com/multiformats/multiaddr). It is about half the size of the
text form, which is what keeps an advert under its 512-byte budget. Only the
protocols a p2pfleet node can be reached over are accepted: ip4, ip6, dns,
dns4, dns6, tcp, p2p and p2p-circuit. Sans-IO, no multiaddr library.
"""

from __future__ import annotations

import ipaddress

from p2pfleet.core.envelope import uvarint as _uvarint
from p2pfleet.core.identity import _b58decode as b58decode
from p2pfleet.core.identity import _b58encode as b58encode

MAX_BINARY_ADDR = 128
MAX_DNS_NAME = 253

# name -> (code, fixed value size; 0 = no value, -1 = uvarint-length-prefixed)
_PROTOCOLS: dict[str, tuple[int, int]] = {
    "ip4": (4, 4),
    "tcp": (6, 2),
    "ip6": (41, 16),
    "dns": (53, -1),
    "dns4": (54, -1),
    "dns6": (55, -1),
    "p2p-circuit": (290, 0),
    "p2p": (421, -1),
}
_BY_CODE = {code: (name, size) for name, (code, size) in _PROTOCOLS.items()}


def encode_addr(text: str) -> bytes:
    """`/ip4/1.2.3.4/tcp/4001` -> bytes; ValueError for anything outside the subset."""
    if not text.startswith("/"):
        raise ValueError(f"multiaddr {text!r} must start with '/'")
    parts = text.split("/")[1:]
    out = bytearray()
    index = 0
    while index < len(parts):
        name = parts[index]
        if name not in _PROTOCOLS:
            raise ValueError(f"multiaddr {text!r}: protocol {name!r} is not supported in adverts")
        code, size = _PROTOCOLS[name]
        out += _uvarint(code)
        index += 1
        if size == 0:
            continue
        if index >= len(parts):
            raise ValueError(f"multiaddr {text!r}: {name} needs a value")
        value = _value_to_bytes(name, parts[index])
        out += value if size > 0 else _uvarint(len(value)) + value
        index += 1
    if len(out) > MAX_BINARY_ADDR:
        raise ValueError(f"multiaddr {text!r} is over {MAX_BINARY_ADDR} bytes in binary form")
    return bytes(out)


def decode_addr(data: bytes) -> str:
    """bytes -> `/ip4/1.2.3.4/tcp/4001`; ValueError for malformed or unsupported input."""
    if not data or len(data) > MAX_BINARY_ADDR:
        raise ValueError(f"binary multiaddr must be 1..{MAX_BINARY_ADDR} bytes")
    parts: list[str] = []
    pos = 0
    while pos < len(data):
        code, pos = _read_uvarint(data, pos)
        if code not in _BY_CODE:
            raise ValueError(f"multiaddr protocol code {code} is not supported in adverts")
        name, size = _BY_CODE[code]
        parts.append(name)
        if size == 0:
            continue
        if size < 0:
            size, pos = _read_uvarint(data, pos)
        if pos + size > len(data):
            raise ValueError(f"binary multiaddr truncated inside {name}")
        parts.append(_value_to_text(name, data[pos : pos + size]))
        pos += size
    return "/" + "/".join(parts)


def _value_to_bytes(name: str, text: str) -> bytes:
    if name == "ip4":
        return ipaddress.IPv4Address(text).packed
    if name == "ip6":
        return ipaddress.IPv6Address(text).packed
    if name == "tcp":
        port = int(text) if text.isdigit() else -1
        if not 0 <= port <= 65535:
            raise ValueError(f"tcp port {text!r} is not 0..65535")
        return port.to_bytes(2, "big")
    if name == "p2p":
        return b58decode(text)
    encoded = text.encode("ascii", errors="strict")  # dns*: a host name
    if not 0 < len(encoded) <= MAX_DNS_NAME or "/" in text:
        raise ValueError(f"dns name {text!r} must be 1..{MAX_DNS_NAME} characters")
    return encoded


def _value_to_text(name: str, value: bytes) -> str:
    if name == "ip4":
        return str(ipaddress.IPv4Address(value))
    if name == "ip6":
        return str(ipaddress.IPv6Address(value))
    if name == "tcp":
        return str(int.from_bytes(value, "big"))
    if name == "p2p":
        if not value:
            raise ValueError("empty p2p peer id")
        return b58encode(value)
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError(f"dns name is not ASCII: {exc}") from exc
    if not text or "/" in text or not text.isprintable():
        raise ValueError(f"invalid dns name {text!r}")
    return text


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for offset in range(3):  # codes and lengths here are < 2**21
        if pos + offset >= len(data):
            break
        byte = data[pos + offset]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and offset > 0:
                raise ValueError("non-minimal uvarint in binary multiaddr")
            return value, pos + offset + 1
        shift += 7
    raise ValueError("truncated or oversized uvarint in binary multiaddr")
