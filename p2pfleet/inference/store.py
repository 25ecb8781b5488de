"""Content-addressed model files on disk: <sha256>.model, verified on every read."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_HASH_RE = re.compile(r"[0-9a-f]{64}")
SUFFIX = ".model"


class ModelIntegrityError(ValueError):
    """A stored model's bytes no longer match its hash."""


class ModelStore:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, model_hash: str) -> Path:
        if not _HASH_RE.fullmatch(model_hash):
            raise ValueError(f"{model_hash!r:.80} is not a lowercase SHA-256 hex digest")
        return self.directory / f"{model_hash}{SUFFIX}"

    def put(self, data: bytes) -> str:
        """Store bytes under their SHA-256 (atomically: temp file, fsync, os.replace)."""
        model_hash = hashlib.sha256(data).hexdigest()
        target = self._path(model_hash)
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
        return data

    def has(self, model_hash: str) -> bool:
        return self._path(model_hash).is_file()

    def hashes(self) -> list[str]:
        return sorted(
            p.name[: -len(SUFFIX)]
            for p in self.directory.glob(f"*{SUFFIX}")
            if _HASH_RE.fullmatch(p.name[: -len(SUFFIX)])
        )
