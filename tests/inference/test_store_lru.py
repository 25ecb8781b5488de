"""The model store's size limit: LRU eviction, pinned models, verified partial downloads."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from p2pfleet.inference.store import ModelIntegrityError, ModelStore, StoreFullError


def blob(tag: str, size: int = 1000) -> bytes:
    return (tag.encode() * size)[:size]


def last_used(store: ModelStore, model_hash: str, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(store.directory / f"{model_hash}.model", (when, when))


def test_least_recently_used_model_is_evicted_first(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_bytes=3000)
    a, b, c = (store.put(blob(t)) for t in "abc")
    last_used(store, a, 300)
    last_used(store, b, 200)
    last_used(store, c, 100)
    store.get(a)  # a read is a use: a becomes the most recent
    d = store.put(blob("d"))
    assert store.hashes() == sorted([a, c, d])
    assert store.usage() == 3000


def test_a_model_in_use_is_never_evicted(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_bytes=2000)
    a = store.put(blob("a"))
    b = store.put(blob("b"))
    last_used(store, a, 100)
    with store.using(a):
        c = store.put(blob("c"))  # must evict b although a is older
        assert store.hashes() == sorted([a, c])
        assert store.in_use() == {a}
    assert store.in_use() == set()
    assert not store.has(b)


def test_a_model_that_cannot_fit_is_refused_without_evicting(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_bytes=2000)
    a = store.put(blob("a"))
    with store.using(a), pytest.raises(StoreFullError, match="pinned"):
        store.put(blob("big", 1500))
    assert store.hashes() == [a]
    with pytest.raises(StoreFullError):
        store.put(blob("huge", 2001))


def test_no_limit_keeps_everything(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    hashes = [store.put(blob(t, 5000)) for t in "abcdef"]
    assert store.hashes() == sorted(hashes)


def test_adopt_part_checks_the_hash_and_respects_the_limit(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_bytes=2500)
    old = store.put(blob("old"))
    last_used(store, old, 60)
    data = blob("new", 2000)
    good = hashlib.sha256(data).hexdigest()
    store.part_path(good).write_bytes(data)
    store.adopt_part(good)
    assert store.hashes() == [good] and not store.part_path(good).exists()

    wanted = hashlib.sha256(b"expected").hexdigest()
    store.part_path(wanted).write_bytes(b"something else")
    with pytest.raises(ModelIntegrityError, match="discarded"):
        store.adopt_part(wanted)
    assert not store.part_path(wanted).exists() and not store.has(wanted)


def test_put_repairs_a_corrupted_copy(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_bytes=10_000)
    digest = store.put(blob("a"))
    (tmp_path / f"{digest}.model").write_bytes(b"tampered")
    assert store.put(blob("a")) == digest
    assert store.get(digest) == blob("a")
