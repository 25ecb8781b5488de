"""Typed errors of the network layer, and ExceptionGroup flattening at its edge.

py-libp2p reports failures as its own exception types, often wrapped in nested
(Base)ExceptionGroups. Nothing of that leaves `p2pfleet.net`: every failure a
caller can act on is one of the classes below, chained (`raise X from exc`) to
the library error for debugging.
"""

from __future__ import annotations


class NetError(Exception):
    """Base class of every error raised by `p2pfleet.net`."""


class DialError(NetError):
    """A peer could not be reached.

    The message names the peer, the addresses tried and what to check.
    py-libp2p remembers a peer whose every address failed for 60 s (its
    negative dial cache) and refuses to dial it again until then: a bare
    `FleetHost.open_stream()` to such a peer fails fast. `FleetHost.connect()`
    (and `connect_retrying()`) lift the block, as does `add_peer_addrs()` with
    an address not known before.
    """


class StreamClosedError(NetError):
    """The remote closed or reset the stream before a full frame arrived."""


class FrameTooLargeError(NetError):
    """A frame declared a length over the receiver's limit; the stream was reset."""


class MalformedFrameError(NetError):
    """A frame header was not a valid unsigned varint; the stream was reset."""


class ProtocolNegotiationError(NetError):
    """The remote does not speak the requested protocol id."""


def leaf_exceptions(exc: BaseException) -> list[BaseException]:
    """Return the non-group exceptions inside `exc`, depth first (pitfall 6)."""
    if isinstance(exc, BaseExceptionGroup):
        leaves: list[BaseException] = []
        for inner in exc.exceptions:
            leaves.extend(leaf_exceptions(inner))
        return leaves
    return [exc]


def describe(exc: BaseException) -> str:
    """One line naming every leaf exception and its causes, for error messages."""
    parts: list[str] = []
    for leaf in leaf_exceptions(exc):
        chain: list[str] = []
        current: BaseException | None = leaf
        seen: set[int] = set()
        while current is not None and id(current) not in seen and len(chain) < 4:
            seen.add(id(current))
            text = str(current).strip().splitlines()[0] if str(current).strip() else ""
            chain.append(f"{type(current).__name__}: {text}" if text else type(current).__name__)
            current = current.__cause__ or current.__context__
        parts.append(" <- ".join(chain))
    return "; ".join(parts)
