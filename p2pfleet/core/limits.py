"""Named size limits for everything p2pfleet decodes.

Every decoder takes its limits from here, so the spec (protocol/conventions.md)
and the code cannot drift apart silently: the vector tests read these values.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeLimits:
    """Upper bounds applied while decoding one msgpack document."""

    max_document: int
    max_bin: int
    max_str: int
    max_array: int
    max_map: int
    max_depth: int = 8


#: Adverts travel by gossip to every peer in a region: keep them tiny.
ADVERT_LIMITS = DecodeLimits(
    max_document=1 * KIB, max_bin=256, max_str=128, max_array=16, max_map=32
)
#: Control messages on a task stream (assign headers, commits, rejects, abandons).
CONTROL_LIMITS = DecodeLimits(
    max_document=1 * MIB, max_bin=512 * KIB, max_str=4 * KIB, max_array=8192, max_map=64
)
#: Frames that carry shard inputs or outputs (zstd-compressed tensors).
BULK_LIMITS = DecodeLimits(
    max_document=48 * MIB, max_bin=48 * MIB, max_str=4 * KIB, max_array=8192, max_map=64
)

#: Largest frame accepted on the task protocol, before any decoding.
MAX_TASK_FRAME = BULK_LIMITS.max_document + 4 * KIB
#: Largest decompressed shard input or output (zstd output is capped at this).
MAX_TENSOR_BYTES = 64 * MIB
#: Manifests list at most this many shards.
MAX_SHARDS = 4096
#: Adverts list at most this many cached model hashes and listen addresses.
MAX_ADVERT_MODELS = 8
MAX_ADVERT_ADDRS = 4
#: Largest encoded advert envelope accepted from gossip.
MAX_ADVERT_BYTES = 1 * KIB
