from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from p2pfleet.inference.store import ModelIntegrityError, ModelStore


def test_put_get_has_hashes(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    digest = store.put(b"model one")
    assert digest == hashlib.sha256(b"model one").hexdigest()
    assert store.get(digest) == b"model one"
    assert store.has(digest)
    other = store.put(b"model two")
    assert store.hashes() == sorted([digest, other])
    assert store.put(b"model one") == digest  # idempotent
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(
        f"{h}.model" for h in (digest, other)
    )


def test_corrupted_file_is_detected(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    digest = store.put(b"original")
    (tmp_path / f"{digest}.model").write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError, match="corrupted"):
        store.get(digest)


def test_missing_and_malformed_hashes(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(KeyError):
        store.get("0" * 64)
    assert not store.has("0" * 64)
    for bad in ("../etc/passwd", "ABC", "0" * 63, "g" * 64):
        with pytest.raises(ValueError):
            store.has(bad)
