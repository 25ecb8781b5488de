"""Public node status (`/p2pfleet/status/0.1.0`): who a node is connected to, what it ran.

Sans-IO. The requester sends a small map with a fresh random nonce; the node
answers with an envelope signed in domain `p2pfleet/status/1` whose payload
echoes the nonce, so a response cannot be replayed to another request. The
payload carries only public facts: connected peer ids (capped), recent job ids
with the shards this node completed, and the node's region and state. No owner
data. Spec: protocol/status.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2pfleet.core import codec
from p2pfleet.core.advert import VehicleState
from p2pfleet.core.envelope import Domain, open_envelope, seal
from p2pfleet.core.errors import (
    DecodeError,
    LocalProtocolError,
    SignatureError,
    StaleMessageError,
)
from p2pfleet.core.identity import Identity, peer_id_from_public_key
from p2pfleet.core.limits import KIB, DecodeLimits
from p2pfleet.core.protocol_ids import STATUS_PROTOCOL as STATUS_PROTOCOL  # re-exported

STATUS_VERSION = 1
NONCE_SIZE = 16
#: A node lists at most this many connected peers (and says how many it has in all).
MAX_STATUS_PEERS = 64
#: A node lists at most this many recent jobs, newest first.
MAX_STATUS_JOBS = 16
MAX_PEER_ID_CHARS = 64
MAX_REQUEST_BYTES = 64
MAX_STATUS_BYTES = 8 * KIB
REQUEST_LIMITS = DecodeLimits(
    max_document=MAX_REQUEST_BYTES, max_bin=NONCE_SIZE, max_str=16, max_array=0, max_map=4
)
STATUS_LIMITS = DecodeLimits(
    max_document=MAX_STATUS_BYTES,
    max_bin=32,
    max_str=MAX_PEER_ID_CHARS,
    max_array=MAX_STATUS_PEERS,
    max_map=16,
    max_depth=4,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRequest:
    nonce: bytes

    def __post_init__(self) -> None:
        if len(self.nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes")

    def to_bytes(self) -> bytes:
        return codec.encode({"v": STATUS_VERSION, "nonce": self.nonce})

    @classmethod
    def from_bytes(cls, data: bytes) -> StatusRequest:
        doc = codec.as_map(codec.decode(data, REQUEST_LIMITS), "status request")
        if codec.field_int(doc, "v") != STATUS_VERSION:
            raise DecodeError(f"status request version {doc.get('v')!r} is not supported")
        return cls(nonce=codec.field_bytes(doc, "nonce", size=NONCE_SIZE))


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSeen:
    """A job this node worked on: shards it completed and shards it was assigned."""

    job_id: bytes
    shards_done: int
    shards_assigned: int
    last_ms: int  # when this node last started a shard of the job (unix ms)

    def __post_init__(self) -> None:
        if len(self.job_id) != 32:
            raise ValueError("job_id must be a 32-byte hash")
        if not 0 <= self.shards_done <= self.shards_assigned:
            raise ValueError("shards_done must be within 0..shards_assigned")
        if self.last_ms < 0:
            raise ValueError("last_ms must be non-negative")

    def to_value(self) -> dict[str, codec.Value]:
        return {
            "id": self.job_id,
            "done": self.shards_done,
            "n": self.shards_assigned,
            "last": self.last_ms,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatusReport:
    nonce: bytes
    issued_at_ms: int
    region: str
    state: VehicleState
    peer_count: int  # all connected peers; `peers` lists at most MAX_STATUS_PEERS
    peers: tuple[str, ...]
    jobs: tuple[JobSeen, ...]

    def __post_init__(self) -> None:
        if len(self.nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
        if len(self.peers) > MAX_STATUS_PEERS or len(self.jobs) > MAX_STATUS_JOBS:
            raise ValueError(
                f"at most {MAX_STATUS_PEERS} peers and {MAX_STATUS_JOBS} jobs (truncate first)"
            )
        if any(not p or len(p) > MAX_PEER_ID_CHARS for p in self.peers):
            raise ValueError(f"peer ids must be 1..{MAX_PEER_ID_CHARS} characters")
        if self.peer_count < len(self.peers) or self.issued_at_ms < 0:
            raise ValueError("peer_count must cover the listed peers; issued_at_ms >= 0")
        if len(self.region) > 64:
            raise ValueError("region must be at most 64 characters")

    def to_payload(self) -> bytes:
        return codec.encode(
            {
                "v": STATUS_VERSION,
                "nonce": self.nonce,
                "at": self.issued_at_ms,
                "reg": self.region,
                "st": self.state.value,
                "npeer": self.peer_count,
                "peers": list(self.peers),
                "jobs": [job.to_value() for job in self.jobs],
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> NodeStatusReport:
        doc = codec.as_map(codec.decode(payload, STATUS_LIMITS), "status")
        if codec.field_int(doc, "v") != STATUS_VERSION:
            raise DecodeError(f"status version {doc.get('v')!r} is not supported")
        peers = codec.field_list(doc, "peers", max_len=MAX_STATUS_PEERS)
        if not all(isinstance(p, str) for p in peers):
            raise DecodeError("status peers must be strings")
        jobs = codec.field_list(doc, "jobs", max_len=MAX_STATUS_JOBS)
        try:
            return cls(
                nonce=codec.field_bytes(doc, "nonce", size=NONCE_SIZE),
                issued_at_ms=codec.field_int(doc, "at", low=0),
                region=codec.field_str(doc, "reg", max_len=64),
                state=VehicleState(codec.field_choice(doc, "st", [s.value for s in VehicleState])),
                peer_count=codec.field_int(doc, "npeer", low=0, high=1_000_000),
                peers=tuple(p for p in peers if isinstance(p, str)),
                jobs=tuple(_job_from_value(job) for job in jobs),
            )
        except ValueError as exc:
            raise DecodeError(f"invalid status: {exc}") from exc


def _job_from_value(value: codec.Value) -> JobSeen:
    doc = codec.as_map(value, "status job")
    return JobSeen(
        job_id=codec.field_bytes(doc, "id", size=32),
        shards_done=codec.field_int(doc, "done", low=0, high=1_000_000),
        shards_assigned=codec.field_int(doc, "n", low=0, high=1_000_000),
        last_ms=codec.field_int(doc, "last", low=0),
    )


@dataclass(frozen=True, slots=True)
class SignedStatus:
    """A status whose envelope verified; `peer_id` is derived from the signer key."""

    report: NodeStatusReport
    node_key: bytes
    wire: bytes

    @property
    def peer_id(self) -> str:
        return peer_id_from_public_key(self.node_key)


def sign_status(identity: Identity, report: NodeStatusReport) -> SignedStatus:
    wire = seal(identity, Domain.STATUS, report.to_payload()).to_bytes()
    if len(wire) > MAX_STATUS_BYTES:  # the requester would drop it: refuse to send it
        raise LocalProtocolError(
            f"status envelope is {len(wire)} bytes, over the {MAX_STATUS_BYTES}-byte limit"
        )
    return SignedStatus(report, identity.public_key, wire)


def verify_status(wire: bytes, *, nonce: bytes, signer: bytes | None = None) -> SignedStatus:
    """Verify the signature, then decode, then check the nonce (and the expected signer).

    Raises a `RemoteProtocolError` subclass.
    """
    envelope = open_envelope(wire, Domain.STATUS, max_size=MAX_STATUS_BYTES)
    if signer is not None and envelope.signer != signer:
        raise SignatureError("status is signed by another key than the answering peer's")
    report = NodeStatusReport.from_payload(envelope.payload)
    if report.nonce != nonce:
        raise StaleMessageError("status answers another request (nonce mismatch)")
    return SignedStatus(report, envelope.signer, wire)
