"""Key files: a 32-byte Ed25519 seed stored as one hex line, mode 0600.

A key readable by group or others is refused: whoever reads it can sign as
this vehicle (adverts, commits, results).
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from p2pfleet.core.errors import KeyFileError
from p2pfleet.core.identity import SEED_SIZE, Identity

_HEADER = "# p2pfleet ed25519 seed v1\n"


def generate_key_file(path: Path, *, overwrite: bool = False) -> Identity:
    """Create a new key file with mode 0600 and return its identity."""
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path} already exists; pass overwrite=True (or --force) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    identity = Identity(secrets.token_bytes(SEED_SIZE))
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_HEADER + identity.seed.hex() + "\n")
    os.replace(tmp, path)
    return identity


def load_key_file(path: Path) -> Identity:
    """Read a key file; refuse it if other users can read it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} not found; create one with `p2pfleet keygen {path}`"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`"
        )
    lines = [
        ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    try:
        seed = bytes.fromhex(lines[0]) if len(lines) == 1 else b""
    except ValueError:
        seed = b""
    if len(seed) != SEED_SIZE:
        raise KeyFileError(f"key file {path} must hold one line of {2 * SEED_SIZE} hex digits")
    return Identity(seed)


def load_or_create_key_file(path: Path) -> Identity:
    return load_key_file(path) if path.exists() else generate_key_file(path)
