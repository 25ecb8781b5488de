"""Task manifests: what a submitter asks the fleet to compute, signed.

`job_id` is the SHA-256 of the canonical manifest payload, so a job is named by
exactly what it asks for (model, runtime and settings, inputs, policy, ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from p2pfleet.core import codec
from p2pfleet.core.envelope import Domain, open_envelope, seal
from p2pfleet.core.errors import DecodeError
from p2pfleet.core.identity import Identity
from p2pfleet.core.limits import CONTROL_LIMITS, MAX_SHARDS

MANIFEST_VERSION = 1
TASK_KINDS = ("classify-image", "embed-text")
EXACT_POLICY = "exact-unanimous"  # exact tier: replicas agree on the output's SHA-256
TOLERANT_POLICY = "tolerant-unanimous"  # tolerant tier: replicas agree by the task's comparator
POLICIES = (EXACT_POLICY, TOLERANT_POLICY)
MAX_REPLICAS = 16
# The comparator (p2pfleet.inference.compare) each task kind uses on the tolerant tier.
TOLERANT_COMPARATORS = {"classify-image": "classification", "embed-text": "embeddings"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardSpec:
    input_hash: bytes  # SHA-256 of the canonical (uncompressed) input tensor
    items: int  # inputs in this shard (e.g. images)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicationPolicy:
    """`replicas` independent nodes (distinct owners) must agree on a shard."""

    name: str = EXACT_POLICY
    replicas: int = 2
    max_replicas: int = 5  # escalation cap on disagreement


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    submitter: bytes
    nonce: bytes
    created_at_ms: int
    deadline_ms: int
    task: str
    model: bytes  # SHA-256 of the canonical model file
    runtime: str
    runtime_settings: tuple[tuple[str, str], ...]
    shards: tuple[ShardSpec, ...]
    replication: ReplicationPolicy
    regions: tuple[str, ...] = ()  # empty: any region

    def __post_init__(self) -> None:
        if not 1 <= len(self.shards) <= MAX_SHARDS:
            raise ValueError(f"a manifest has 1..{MAX_SHARDS} shards")
        if not 1 <= self.replication.replicas <= self.replication.max_replicas <= MAX_REPLICAS:
            raise ValueError(f"need 1 <= replicas <= max_replicas <= {MAX_REPLICAS}")
        if self.deadline_ms <= self.created_at_ms:
            raise ValueError("deadline must be after creation time")
        if self.task not in TASK_KINDS:
            raise ValueError(f"task {self.task!r} is not one of {', '.join(TASK_KINDS)}")
        if self.replication.name not in POLICIES:
            raise ValueError(
                f"policy {self.replication.name!r} is not one of {', '.join(POLICIES)}"
            )

    @property
    def tolerant(self) -> bool:
        """True on the tolerant tier: every replica reveals, outputs are compared, not hashed."""
        return self.replication.name == TOLERANT_POLICY

    @property
    def comparator(self) -> str:
        """The comparator kind replicas of this job are judged by (`comparator_for(kind)`)."""
        return TOLERANT_COMPARATORS[self.task] if self.tolerant else "exact"

    def to_payload(self) -> bytes:
        return codec.encode(
            {
                "v": MANIFEST_VERSION,
                "sub": self.submitter,
                "nonce": self.nonce,
                "at": self.created_at_ms,
                "dl": self.deadline_ms,
                "task": self.task,
                "model": self.model,
                "rt": self.runtime,
                "rts": dict(self.runtime_settings),
                "shards": [{"in": s.input_hash, "n": s.items} for s in self.shards],
                "rep": {
                    "p": self.replication.name,
                    "k": self.replication.replicas,
                    "max": self.replication.max_replicas,
                },
                "reg": list(self.regions),
            }
        )

    @classmethod
    def from_payload(cls, payload: bytes) -> Manifest:
        doc = codec.as_map(codec.decode(payload, CONTROL_LIMITS), "manifest")
        if codec.field_int(doc, "v") != MANIFEST_VERSION:
            raise DecodeError(f"manifest version {doc.get('v')!r} is not supported")
        settings = codec.field_map(doc, "rts")
        if not all(isinstance(v, str) for v in settings.values()):
            raise DecodeError("runtime settings must map str to str")
        shards = []
        for raw in codec.field_list(doc, "shards", max_len=MAX_SHARDS):
            item = codec.as_map(raw, "shard")
            shards.append(
                ShardSpec(
                    input_hash=codec.field_bytes(item, "in", size=32),
                    items=codec.field_int(item, "n", low=1, high=1_000_000),
                )
            )
        rep = codec.field_map(doc, "rep")
        regions = codec.field_list(doc, "reg", max_len=64)
        if not all(isinstance(r, str) and len(r) <= 64 for r in regions):
            raise DecodeError("regions must be short strings")
        try:
            return cls(
                submitter=codec.field_bytes(doc, "sub", size=32),
                nonce=codec.field_bytes(doc, "nonce", max_len=32),
                created_at_ms=codec.field_int(doc, "at", low=0),
                deadline_ms=codec.field_int(doc, "dl", low=0),
                task=codec.field_choice(doc, "task", TASK_KINDS),
                model=codec.field_bytes(doc, "model", size=32),
                runtime=codec.field_str(doc, "rt", max_len=64),
                runtime_settings=tuple(sorted((k, str(v)) for k, v in settings.items())),
                shards=tuple(shards),
                replication=ReplicationPolicy(
                    name=codec.field_choice(rep, "p", POLICIES),
                    replicas=codec.field_int(rep, "k", low=1, high=MAX_REPLICAS),
                    max_replicas=codec.field_int(rep, "max", low=1, high=MAX_REPLICAS),
                ),
                regions=tuple(r for r in regions if isinstance(r, str)),
            )
        except ValueError as exc:
            raise DecodeError(f"invalid manifest: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SignedManifest:
    manifest: Manifest
    wire: bytes

    @property
    def job_id(self) -> bytes:
        return job_id_of(self.manifest.to_payload())


def job_id_of(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


def sign_manifest(identity: Identity, manifest: Manifest) -> SignedManifest:
    if manifest.submitter != identity.public_key:
        raise ValueError("manifest.submitter must be the signing identity's public key")
    return SignedManifest(
        manifest, seal(identity, Domain.MANIFEST, manifest.to_payload()).to_bytes()
    )


def verify_manifest(wire: bytes) -> SignedManifest:
    """Verify the signature, then decode; the signer must be the named submitter."""
    envelope = open_envelope(wire, Domain.MANIFEST, max_size=CONTROL_LIMITS.max_document)
    manifest = Manifest.from_payload(envelope.payload)
    if manifest.submitter != envelope.signer:
        raise DecodeError("manifest is signed by a key other than its submitter")
    if manifest.to_payload() != envelope.payload:
        # job_id names the exact signed bytes: a payload with keys outside the
        # schema (or missing optional ones) would get a job_id it was not signed as.
        raise DecodeError("manifest payload has keys outside the version-1 schema")
    return SignedManifest(manifest, wire)
