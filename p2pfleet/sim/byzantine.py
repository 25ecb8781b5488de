"""What a simulated node answers: honest, or one of the Byzantine behaviours.

Answers are output fingerprints (32 bytes, like the exact tier's SHA-256).
The right answer and the colluders' shared wrong answer are functions of the
shard, so colluders agree with each other without talking; everybody else's
wrong answer is their own.
"""

from __future__ import annotations

import hashlib
import random
from enum import StrEnum


class Behaviour(StrEnum):
    HONEST = "honest"
    COLLUDING = "colluding"  # always the colluders' shared wrong answer
    LAZY = "lazy"  # skips the work and commits a guess (commit-then-reveal stops copying)
    FLAKY = "flaky"  # honest, but often drops work silently and sometimes corrupts it
    ALWAYS = "always"  # always wrong, its own answer (no collusion)
    SOMETIMES = "sometimes"  # the shared wrong answer on a fraction of shards
    PATIENT = "patient"  # honest until the submitter trusts it, then the shared wrong answer


BYZANTINE = tuple(b for b in Behaviour if b is not Behaviour.HONEST)
COLLUSIVE = frozenset({Behaviour.COLLUDING, Behaviour.SOMETIMES, Behaviour.PATIENT})


def right_answer(shard_id: int) -> bytes:
    return hashlib.sha256(b"right:%d" % shard_id).digest()


def colluders_answer(shard_id: int) -> bytes:
    return hashlib.sha256(b"wrong:%d" % shard_id).digest()


def own_answer(shard_id: int, node_key: bytes, rng: random.Random) -> bytes:
    return hashlib.sha256(b"own:%d:%s:%d" % (shard_id, node_key, rng.getrandbits(32))).digest()


def answer(
    behaviour: Behaviour,
    shard_id: int,
    node_key: bytes,
    *,
    trusted: bool,
    rng: random.Random,
    cheat_rate: float,
    flaky_rate: float,
) -> bytes | None:
    """The fingerprint the node commits to, or None if it silently drops the shard."""
    if behaviour is Behaviour.HONEST:
        return right_answer(shard_id)
    if behaviour is Behaviour.COLLUDING:
        return colluders_answer(shard_id)
    if behaviour is Behaviour.SOMETIMES:
        return colluders_answer(shard_id) if rng.random() < cheat_rate else right_answer(shard_id)
    if behaviour is Behaviour.PATIENT:
        return colluders_answer(shard_id) if trusted else right_answer(shard_id)
    if behaviour is Behaviour.FLAKY:
        roll = rng.random()
        if roll < flaky_rate:
            return None
        if roll < flaky_rate * 1.25:  # a corrupted result now and then
            return own_answer(shard_id, node_key, rng)
        return right_answer(shard_id)
    return own_answer(shard_id, node_key, rng)  # LAZY and ALWAYS


def skips_work(behaviour: Behaviour) -> bool:
    """A lazy node commits at once and spends (almost) no energy."""
    return behaviour is Behaviour.LAZY
