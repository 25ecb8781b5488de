"""The task stream state machine, shared by node and submitter.

Theory of operation: one stream carries one shard assignment. The submitter
sends `Assign`; the node answers `Accept` or `Reject`. After accepting, the
node sends a signed `Commit` (a hash of its output) and waits; once the
submitter holds every replica's commit it sends `RevealRequest`, and the node
answers with the signed `Result`. A node may send a signed `Abandon` at any
point after accepting (the vehicle starts driving). `ErrorMessage` ends the
stream from either side. Both roles walk the same table; a message that the
table does not allow is a protocol error, raised as `RemoteProtocolError` when
received and `LocalProtocolError` when sent.
"""

from __future__ import annotations

from enum import StrEnum

from p2pfleet.core.errors import LocalProtocolError, RemoteProtocolError
from p2pfleet.core.task_messages import (
    Abandon,
    Accept,
    Assign,
    Commit,
    ErrorMessage,
    Reject,
    Result,
    RevealRequest,
    TaskMessage,
    decode_message,
    encode_message,
)


class Role(StrEnum):
    SUBMITTER = "submitter"
    NODE = "node"


class TaskState(StrEnum):
    AWAIT_ASSIGN = "await-assign"
    AWAIT_DECISION = "await-decision"
    RUNNING = "running"
    COMMITTED = "committed"
    REVEALING = "revealing"
    DONE = "done"
    CLOSED = "closed"  # rejected, abandoned or errored


# (state, message type, sender role) -> next state
_TRANSITIONS: dict[tuple[TaskState, type, Role], TaskState] = {
    (TaskState.AWAIT_ASSIGN, Assign, Role.SUBMITTER): TaskState.AWAIT_DECISION,
    (TaskState.AWAIT_DECISION, Accept, Role.NODE): TaskState.RUNNING,
    (TaskState.AWAIT_DECISION, Reject, Role.NODE): TaskState.CLOSED,
    (TaskState.RUNNING, Commit, Role.NODE): TaskState.COMMITTED,
    (TaskState.RUNNING, Abandon, Role.NODE): TaskState.CLOSED,
    (TaskState.COMMITTED, RevealRequest, Role.SUBMITTER): TaskState.REVEALING,
    (TaskState.COMMITTED, Abandon, Role.NODE): TaskState.CLOSED,
    (TaskState.REVEALING, Result, Role.NODE): TaskState.DONE,
    (TaskState.REVEALING, Abandon, Role.NODE): TaskState.CLOSED,
}


class TaskConversation:
    """Sans-IO protocol object for one task stream, from the point of view of `role`."""

    def __init__(self, role: Role) -> None:
        self.role = role
        self.state = TaskState.AWAIT_ASSIGN
        self.job_id: bytes | None = None
        self.shard: int | None = None
        self._committed_hash: bytes | None = None

    @property
    def peer_role(self) -> Role:
        return Role.NODE if self.role is Role.SUBMITTER else Role.SUBMITTER

    def send(self, message: TaskMessage) -> bytes:
        self._advance(message, self.role, LocalProtocolError)
        return encode_message(message)

    def receive(self, frame: bytes) -> TaskMessage:
        message = decode_message(frame)
        self._advance(message, self.peer_role, RemoteProtocolError)
        return message

    def _advance(self, message: TaskMessage, sender: Role, error: type[Exception]) -> None:
        if isinstance(message, ErrorMessage):
            self.state = TaskState.CLOSED
            return
        next_state = _TRANSITIONS.get((self.state, type(message), sender))
        if next_state is None:
            raise error(
                f"{sender.value} may not send {type(message).__name__} in state {self.state.value}"
            )
        if isinstance(message, Commit | Result | Abandon):
            if (message.job_id, message.shard) != (self.job_id, self.shard):
                raise error(
                    f"{type(message).__name__} names a different job or shard than the assignment"
                )
            if isinstance(message, Result) and self._committed_hash not in (
                None,
                message.output_hash,
            ):
                raise error("revealed output hash differs from the committed hash")
        if isinstance(message, Commit):
            self._committed_hash = message.output_hash
        self.state = next_state

    def bind(self, job_id: bytes, shard: int) -> None:
        """Record which shard this stream is about (after the manifest verified)."""
        self.job_id, self.shard = job_id, shard
