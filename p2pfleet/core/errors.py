"""Typed errors raised by the sans-IO core.

`RemoteProtocolError` means a peer sent something invalid (reset the stream,
keep serving); `LocalProtocolError` means this side misused the API.
"""

from __future__ import annotations


class P2pFleetError(Exception):
    """Base class for every error p2pfleet raises on purpose."""


class RemoteProtocolError(P2pFleetError):
    """The remote peer broke the protocol; the message says how."""


class DecodeError(RemoteProtocolError):
    """Bytes are not a valid p2pfleet document (bad msgpack, limits, schema)."""


class LimitExceededError(DecodeError):
    """A document exceeds one of the named limits in `p2pfleet.core.limits`."""


class SignatureError(RemoteProtocolError):
    """An envelope's signature does not verify for its key and domain."""


class StaleMessageError(RemoteProtocolError):
    """A message is expired, replayed or older than one already seen."""


class LocalProtocolError(P2pFleetError):
    """This side tried something the protocol does not allow."""


class KeyFileError(P2pFleetError):
    """A key file is missing, malformed, or readable by other users."""
