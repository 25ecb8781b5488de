"""Mapping py-libp2p's exceptions (often nested groups) onto p2pfleet.net.errors (pitfall 6)."""

from __future__ import annotations

from libp2p.host.exceptions import StreamFailure
from libp2p.protocol_muxer.exceptions import MultiselectClientError

from p2pfleet.net.errors import (
    DialError,
    NetError,
    ProtocolNegotiationError,
    describe,
    leaf_exceptions,
)


def split_errors(
    exc: BaseException,
) -> tuple[BaseException | None, BaseException | None]:
    """Split into (ordinary errors, what must propagate: Cancelled, KeyboardInterrupt...)."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(Exception)
    if isinstance(exc, Exception):
        return exc, None
    return None, exc


def reraise_if_not_error(exc: BaseException) -> None:
    """Let cancellation and interpreter exits through instead of mapping them."""
    if not all(isinstance(leaf, Exception) for leaf in leaf_exceptions(exc)):
        raise exc


def stream_open_error(exc: BaseException, peer_id: str, protocol_id: str) -> NetError:
    leaves = leaf_exceptions(exc)
    negotiation = [
        leaf
        for leaf in leaves
        for cause in (leaf, leaf.__cause__)
        if isinstance(cause, MultiselectClientError)
        and ("not supported" in str(cause) or "timed out" in str(cause))
    ]
    if negotiation:
        return ProtocolNegotiationError(
            f"peer {peer_id} does not serve {protocol_id} ({describe(exc)}); "
            "check that both sides run compatible p2pfleet versions"
        )
    if any(isinstance(leaf, StreamFailure) for leaf in leaves):
        return DialError(f"opening a {protocol_id} stream to {peer_id} failed: {describe(exc)}")
    return DialError(
        f"could not open a {protocol_id} stream to {peer_id}: {describe(exc)}. "
        "The connection may have dropped; retry after reconnecting."
    )
