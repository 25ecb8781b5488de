"""Content-addressed model files on disk: <sha256>.model, verified on every read.

A store may have a size limit (bytes). Adding a model evicts the least recently
used ones (last use = the file's mtime, bumped on every read) until it fits, but
never a model that is in use (`with store.using(hash):`). Partial downloads live
beside the models as <sha256>.part and become a model only after their SHA-256
checks out (`adopt_part`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger("p2pfleet.inference.store")

_HASH_RE = re.compile(r"[0-9a-f]{64}")
SUFFIX = ".model"
PART_SUFFIX = ".part"


class ModelIntegrityError(ValueError):
    """A stored model's bytes no longer match its hash."""


class StoreFullError(OSError):
    """A model does not fit within the store's size limit, even after eviction."""


def _check_hash(model_hash: str) -> str:
    if not _HASH_RE.fullmatch(model_hash):
        raise ValueError(f"{model_hash!r:.80} is not a lowercase SHA-256 hex digest")
    return model_hash


class ModelStore:
    def __init__(self, directory: Path | str, *, max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._in_use: Counter[str] = Counter()

    def _path(self, model_hash: str) -> Path:
        return self.directory / f"{_check_hash(model_hash)}{SUFFIX}"

    def part_path(self, model_hash: str) -> Path:
        """Where a download of `model_hash` keeps its bytes until verified."""
        return self.directory / f"{_check_hash(model_hash)}{PART_SUFFIX}"

    def put(self, data: bytes) -> str:
        """Store bytes under their SHA-256 (atomically: temp file, fsync, os.replace)."""
        model_hash = hashlib.sha256(data).hexdigest()
        target = self._path(model_hash)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == model_hash:
            self.touch(model_hash)
            return model_hash  # already stored intact (a corrupted copy is rewritten below)
        self.make_room(len(data), keep=model_hash)
        fd, temp_name = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return model_hash

    def adopt_part(self, model_hash: str) -> None:
        """Turn a complete download into a model; ModelIntegrityError (part deleted) if bad."""
        part = self.part_path(model_hash)
        digest = hashlib.sha256()
        with part.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != model_hash:
            part.unlink(missing_ok=True)
            raise ModelIntegrityError(
                f"downloaded bytes hash to {digest.hexdigest()}, not {model_hash}; discarded"
            )
        self.make_room(part.stat().st_size, keep=model_hash)
        os.replace(part, self._path(model_hash))

    def get(self, model_hash: str) -> bytes:
        """Bytes of a stored model; KeyError if absent, ModelIntegrityError if corrupted."""
        path = self._path(model_hash)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(f"model {model_hash} is not in store {self.directory}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != model_hash:
            raise ModelIntegrityError(
                f"{path} hashes to {actual}, not {model_hash}: the file is corrupted; "
                "delete it and fetch the model again"
            )
        self.touch(model_hash)
        return data

    def touch(self, model_hash: str) -> None:
        """Record a use now (the file's mtime is its last use, for LRU eviction)."""
        with suppress(FileNotFoundError):
            os.utime(self._path(model_hash))

    def has(self, model_hash: str) -> bool:
        return self._path(model_hash).is_file()

    def size(self, model_hash: str) -> int:
        return self._path(model_hash).stat().st_size

    def hashes(self) -> list[str]:
        return sorted(
            p.name[: -len(SUFFIX)]
            for p in self.directory.glob(f"*{SUFFIX}")
            if _HASH_RE.fullmatch(p.name[: -len(SUFFIX)])
        )

    def usage(self) -> int:
        """Bytes held by complete models."""
        return sum(self.size(h) for h in self.hashes() if self.has(h))

    @contextmanager
    def using(self, model_hash: str) -> Iterator[None]:
        """Pin a model while it runs: eviction never removes it meanwhile."""
        _check_hash(model_hash)
        self._in_use[model_hash] += 1
        try:
            self.touch(model_hash)
            yield
        finally:
            self._in_use[model_hash] -= 1
            if not self._in_use[model_hash]:
                del self._in_use[model_hash]

    def in_use(self) -> set[str]:
        return set(self._in_use)

    def make_room(self, incoming: int, *, keep: str = "") -> list[str]:
        """Evict least recently used, unpinned models until `incoming` more bytes fit.

        Returns the evicted hashes; StoreFullError (nothing evicted) if it cannot fit.
        """
        if self.max_bytes is None:
            return []
        entries = []
        for model_hash in self.hashes():
            try:
                stat = self._path(model_hash).stat()
            except FileNotFoundError:
                continue
            entries.append((stat.st_mtime_ns, model_hash, stat.st_size))
        used = sum(size for _, _, size in entries)
        pinned = {keep, *self._in_use}
        evictable = sorted(e for e in entries if e[1] not in pinned)
        freeable = sum(size for _, _, size in evictable)
        if used - freeable + incoming > self.max_bytes:
            raise StoreFullError(
                f"a {incoming}-byte model does not fit in the {self.max_bytes}-byte model store "
                f"{self.directory} ({used} bytes used, {used - freeable} pinned by running work); "
                "raise the limit or wait for work to finish"
            )
        evicted = []
        for _, model_hash, size in evictable:
            if used + incoming <= self.max_bytes:
                break
            self._path(model_hash).unlink(missing_ok=True)
            used -= size
            evicted.append(model_hash)
            log.info("evicted model %s (%d bytes, least recently used)", model_hash[:16], size)
        return evicted
