"""The task stream state machine and its messages."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from p2pfleet.core import codec
from p2pfleet.core.compress import compress
from p2pfleet.core.errors import (
    DecodeError,
    LimitExceededError,
    LocalProtocolError,
    RemoteProtocolError,
)
from p2pfleet.core.limits import CONTROL_LIMITS
from p2pfleet.core.manifest import sign_manifest
from p2pfleet.core.task_messages import (
    Abandon,
    Accept,
    Assign,
    Commit,
    ErrorMessage,
    Reject,
    RejectReason,
    Result,
    RevealRequest,
    TaskMessage,
    decode_message,
    encode_message,
    sign_abandon,
    sign_commit,
    sign_result,
)
from p2pfleet.core.tasks import Role, TaskConversation, TaskState

from .factories import digest, identity, manifest

NODE = identity(1)
SUBMITTER = identity(2)
SIGNED_MANIFEST = sign_manifest(SUBMITTER, manifest(SUBMITTER))
JOB = SIGNED_MANIFEST.job_id
OUTPUT = b"canonical output bytes"
S, N = Role.SUBMITTER, Role.NODE


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


MESSAGES: dict[str, tuple[Role, TaskMessage]] = {
    "assign": (S, Assign(manifest_wire=SIGNED_MANIFEST.wire, shard=0, input_zstd=compress(b"in"))),
    "accept": (N, Accept(estimated_ms=5000)),
    "reject": (N, Reject(reason=RejectReason.BUSY)),
}
MESSAGES["commit"] = (N, sign_commit(NODE, JOB, 0, _sha(OUTPUT)))
MESSAGES["reveal"] = (S, RevealRequest())
MESSAGES["result"] = (N, sign_result(NODE, JOB, 0, OUTPUT, compress(OUTPUT), 1234))
MESSAGES["abandon"] = (N, sign_abandon(NODE, JOB, 0, RejectReason.DRIVING))

PATHS: dict[TaskState, list[str]] = {
    TaskState.AWAIT_ASSIGN: [],
    TaskState.AWAIT_DECISION: ["assign"],
    TaskState.RUNNING: ["assign", "accept"],
    TaskState.COMMITTED: ["assign", "accept", "commit"],
    TaskState.REVEALING: ["assign", "accept", "commit", "reveal"],
    TaskState.DONE: ["assign", "accept", "commit", "reveal", "result"],
    TaskState.CLOSED: ["assign", "reject"],
}

# the spec's table (protocol/task.md), written out independently of tasks.py
LEGAL = {
    (TaskState.AWAIT_ASSIGN, "assign"): TaskState.AWAIT_DECISION,
    (TaskState.AWAIT_DECISION, "accept"): TaskState.RUNNING,
    (TaskState.AWAIT_DECISION, "reject"): TaskState.CLOSED,
    (TaskState.RUNNING, "commit"): TaskState.COMMITTED,
    (TaskState.RUNNING, "abandon"): TaskState.CLOSED,
    (TaskState.COMMITTED, "reveal"): TaskState.REVEALING,
    (TaskState.COMMITTED, "abandon"): TaskState.CLOSED,
    (TaskState.REVEALING, "result"): TaskState.DONE,
    (TaskState.REVEALING, "abandon"): TaskState.CLOSED,
}


def conversation(role: Role, path: list[str]) -> TaskConversation:
    conv = TaskConversation(role)
    for name in path:
        sender, message = MESSAGES[name]
        if sender is role:
            conv.send(message)
        else:
            conv.receive(encode_message(message))
        if name == "assign":
            conv.bind(JOB, 0)
    return conv


@pytest.mark.parametrize("role", [S, N])
def test_full_legal_sequence(role: Role) -> None:
    conv = conversation(role, PATHS[TaskState.DONE])
    assert conv.state is TaskState.DONE


@pytest.mark.parametrize(("state", "name"), list(itertools.product(PATHS, [n for n in MESSAGES])))
def test_every_state_and_message(state: TaskState, name: str) -> None:
    sender, message = MESSAGES[name]
    receiver = N if sender is S else S
    local = conversation(sender, PATHS[state])
    remote = conversation(receiver, PATHS[state])
    assert local.state is remote.state is state
    expected = LEGAL.get((state, name))
    if expected is None:
        with pytest.raises(LocalProtocolError):
            local.send(message)
        with pytest.raises(RemoteProtocolError):
            remote.receive(encode_message(message))
        assert local.state is remote.state is state  # an illegal message changes nothing
    else:
        local.send(message)
        assert remote.receive(encode_message(message)) == message
        assert local.state is remote.state is expected


@pytest.mark.parametrize("name", ["assign", "accept", "commit", "reveal", "result", "abandon"])
def test_wrong_sender_is_refused(name: str) -> None:
    sender, message = MESSAGES[name]
    other = N if sender is S else S
    state = next(st for (st, n) in LEGAL if n == name)
    # the legitimate sender receives it: its peer (the other role) may not send it
    receiving = conversation(sender, PATHS[state])
    with pytest.raises(RemoteProtocolError, match=f"{other.value} may not send"):
        receiving.receive(encode_message(message))
    assert receiving.state is state
    # the other role may not send it either
    sending = conversation(other, PATHS[state])
    with pytest.raises(LocalProtocolError):
        sending.send(message)
    assert sending.state is state


@pytest.mark.parametrize("state", list(PATHS))
@pytest.mark.parametrize("role", [S, N])
def test_error_closes_from_any_state(state: TaskState, role: Role) -> None:
    conv = conversation(role, PATHS[state])
    conv.receive(encode_message(ErrorMessage(code="internal")))
    assert conv.state is TaskState.CLOSED
    other = conversation(role, PATHS[state])
    other.send(ErrorMessage(code="internal"))
    assert other.state is TaskState.CLOSED


def test_result_hash_must_equal_commit_hash() -> None:
    other = sign_result(NODE, JOB, 0, b"a different output", compress(b"a different output"), 1)
    submitter = conversation(S, PATHS[TaskState.REVEALING])
    with pytest.raises(RemoteProtocolError, match="committed"):
        submitter.receive(encode_message(other))
    assert submitter.state is TaskState.REVEALING
    node = conversation(N, PATHS[TaskState.REVEALING])
    with pytest.raises(LocalProtocolError, match="committed"):
        node.send(other)


@pytest.mark.parametrize(
    "message",
    [
        sign_commit(NODE, JOB, 1, _sha(OUTPUT)),
        sign_commit(NODE, digest("other job"), 0, _sha(OUTPUT)),
    ],
)
def test_commit_must_name_the_assigned_shard(message: Commit) -> None:
    conv = conversation(S, PATHS[TaskState.RUNNING])
    with pytest.raises(RemoteProtocolError, match="different job or shard"):
        conv.receive(encode_message(message))


def test_unbound_conversation_refuses_signed_messages() -> None:
    conv = TaskConversation(S)
    conv.send(MESSAGES["assign"][1])
    conv.receive(encode_message(MESSAGES["accept"][1]))
    with pytest.raises(RemoteProtocolError):
        conv.receive(encode_message(MESSAGES["commit"][1]))


def test_signed_messages_carry_the_signer() -> None:
    for name in ("commit", "result", "abandon"):
        decoded = decode_message(encode_message(MESSAGES[name][1]))
        assert isinstance(decoded, Commit | Result | Abandon)
        assert decoded.node_key == NODE.public_key


def test_result_output_checks_hash_and_cap() -> None:
    result = MESSAGES["result"][1]
    assert isinstance(result, Result)
    assert result.output() == OUTPUT
    lying = Result(
        job_id=JOB, shard=0, output_hash=_sha(b"x"), output_zstd=compress(OUTPUT), runtime_ms=1
    )
    with pytest.raises(DecodeError):
        lying.output()


def test_oversize_control_frame_is_a_limit_error() -> None:
    huge = codec.encode({"t": "reveal", "pad": b"\x00" * CONTROL_LIMITS.max_document})
    with pytest.raises(LimitExceededError):
        decode_message(huge)


def test_every_reject_reason_round_trips() -> None:
    for reason in RejectReason:
        message = Reject(reason=reason, detail=reason.value)
        assert decode_message(encode_message(message)) == message
        abandon = sign_abandon(NODE, JOB, 3, reason)
        assert decode_message(encode_message(abandon)) == abandon
