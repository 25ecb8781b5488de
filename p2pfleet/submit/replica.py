"""One replica of one shard: the submitter's side of a task stream."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import trio

from p2pfleet.core.advert import SignedAdvert
from p2pfleet.core.compress import compress
from p2pfleet.core.errors import RemoteProtocolError
from p2pfleet.core.limits import MAX_TASK_FRAME
from p2pfleet.core.protocol_ids import TASK_PROTOCOL
from p2pfleet.core.task_messages import (
    Abandon,
    Assign,
    Commit,
    ErrorMessage,
    Reject,
    Result,
    RevealRequest,
)
from p2pfleet.core.tasks import Role, TaskConversation
from p2pfleet.net.errors import NetError
from p2pfleet.net.host import FleetHost
from p2pfleet.net.streams import FramedStream
from p2pfleet.submit.planner import JobPlan, ShardPlan


@dataclass(frozen=True, slots=True)
class ReplicaTimeouts:
    accept_s: float = 15.0
    commit_s: float = 120.0
    reveal_s: float = 30.0


class ReplicaOutcome(StrEnum):
    RUNNING = "running"
    COMMITTED = "committed"
    REVEALED = "revealed"
    REJECTED = "rejected"
    ABANDONED = "abandoned"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class Replica:
    advert: SignedAdvert
    placed_at: float = field(default_factory=time.monotonic)
    outcome: ReplicaOutcome = ReplicaOutcome.RUNNING
    detail: str = ""
    commit: Commit | None = None
    result: Result | None = None
    output: bytes | None = None
    committed_at: float | None = None
    cancel_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    on_settled: Callable[[bytes], None] | None = None  # frees the node's capacity, once
    reveal_decided: trio.Event = field(default_factory=trio.Event)
    reveal_wanted: bool = False  # commit-reveal: only the chosen replica uploads its output
    finished: trio.Event = field(default_factory=trio.Event)
    dropped: str = ""  # why the submitter gave up on this node (advert expired, driving)

    def decide_reveal(self, wanted: bool) -> None:
        self.reveal_wanted = wanted
        self.reveal_decided.set()

    def drop(self, reason: str) -> None:
        """Give up on a node that still computes (it left): counts as a loss at once."""
        if self.outcome is ReplicaOutcome.RUNNING and not self.dropped:
            self.dropped = reason
            self.cancel_scope.cancel()

    def settle(self) -> None:
        """The node is no longer computing for us (committed or gone)."""
        if self.on_settled is not None:
            callback, self.on_settled = self.on_settled, None
            callback(self.node_key)

    @property
    def node_key(self) -> bytes:
        return self.advert.node_key

    @property
    def peer_id(self) -> str:
        return self.advert.peer_id


async def run_replica(
    host: FleetHost,
    plan: JobPlan,
    shard: ShardPlan,
    replica: Replica,
    events: trio.MemorySendChannel[Replica],
    timeouts: ReplicaTimeouts,
) -> None:
    """Assign, collect the commit, then reveal if (and only if) the coordinator asks.

    Every outcome is reported on `events` exactly once before the reveal:
    COMMITTED, or a loss (REJECTED / ABANDONED / FAILED). A replica that is
    not asked to reveal ends the stream: its signed commit was its vote.
    """
    try:
        await _converse(host, plan, shard, replica, events, timeouts)
    finally:
        replica.settle()
        replica.finished.set()


async def _converse(
    host: FleetHost,
    plan: JobPlan,
    shard: ShardPlan,
    replica: Replica,
    events: trio.MemorySendChannel[Replica],
    timeouts: ReplicaTimeouts,
) -> None:
    stream: FramedStream | None = None
    with replica.cancel_scope:
        try:
            stream = await host.open_stream(replica.peer_id, TASK_PROTOCOL)
            conversation = TaskConversation(Role.SUBMITTER)
            conversation.bind(plan.job_id, shard.index)
            assign = Assign(
                manifest_wire=plan.manifest.wire,
                shard=shard.index,
                input_zstd=compress(shard.input_bytes),
            )
            await stream.send(conversation.send(assign))
            with trio.fail_after(timeouts.accept_s):
                decision = conversation.receive(await stream.receive(max_size=MAX_TASK_FRAME))
            if not _ended(replica, decision):
                with trio.fail_after(timeouts.commit_s):
                    claim = conversation.receive(await stream.receive(max_size=MAX_TASK_FRAME))
                if not _ended(replica, claim) and isinstance(claim, Commit):
                    _check_signer(replica, claim.node_key)
                    replica.commit, replica.committed_at = claim, time.monotonic()
                    replica.outcome = ReplicaOutcome.COMMITTED
                    replica.settle()
                    await events.send(replica)
                    await replica.reveal_decided.wait()
                    if not replica.reveal_wanted:  # its signed commit was its vote
                        await stream.reset()
                        return
                    await stream.send(conversation.send(RevealRequest()))
                    with trio.fail_after(timeouts.reveal_s):
                        revealed = conversation.receive(
                            await stream.receive(max_size=MAX_TASK_FRAME)
                        )
                    if isinstance(revealed, Result):
                        _check_signer(replica, revealed.node_key)
                        replica.output = revealed.output()
                        replica.result = revealed
                        replica.outcome = ReplicaOutcome.REVEALED
                    else:
                        _ended(replica, revealed)
                    await stream.close()
                    return
        except (NetError, RemoteProtocolError) as exc:
            _fail(replica, f"{type(exc).__name__}: {exc}")
        except trio.TooSlowError:
            _fail(replica, "timed out")
        if stream is not None:
            with trio.move_on_after(1.0):
                await stream.reset()
    if replica.cancel_scope.cancelled_caught and stream is not None:
        with trio.CancelScope(shield=True), trio.move_on_after(1.0), contextlib.suppress(NetError):
            await stream.reset()
    if replica.cancel_scope.cancelled_caught and replica.outcome is ReplicaOutcome.RUNNING:
        if not replica.dropped:
            replica.outcome = ReplicaOutcome.CANCELLED
            return
        replica.outcome, replica.detail = ReplicaOutcome.ABANDONED, replica.dropped
    if replica.outcome is not ReplicaOutcome.COMMITTED or replica.commit is None:
        if replica.outcome is ReplicaOutcome.RUNNING:
            _fail(replica, "stream ended without a commit")
        await events.send(replica)


def _ended(replica: Replica, message: object) -> bool:
    """Record a refusal, abandon or error; True if the conversation is over."""
    if isinstance(message, Reject):
        replica.outcome, replica.detail = (
            ReplicaOutcome.REJECTED,
            f"{message.reason.value}: {message.detail}",
        )
    elif isinstance(message, Abandon):
        _check_signer(replica, message.node_key)
        replica.outcome, replica.detail = ReplicaOutcome.ABANDONED, message.reason.value
    elif isinstance(message, ErrorMessage):
        replica.outcome, replica.detail = ReplicaOutcome.FAILED, f"{message.code}: {message.detail}"
    else:
        return False
    return True


def _fail(replica: Replica, detail: str) -> None:
    if replica.outcome in (ReplicaOutcome.RUNNING, ReplicaOutcome.COMMITTED):
        replica.outcome = (
            ReplicaOutcome.FAILED if replica.outcome is ReplicaOutcome.RUNNING else replica.outcome
        )
        replica.detail = detail


def _check_signer(replica: Replica, signer: bytes) -> None:
    if signer != replica.node_key:
        raise RemoteProtocolError("message is signed by a key other than the node we assigned")
