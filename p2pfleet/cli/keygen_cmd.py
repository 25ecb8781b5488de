"""`p2pfleet keygen PATH`: create an Ed25519 key file (mode 0600)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import EXIT_OK, fail, out, print_json


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "keygen", help="create a node or submitter key file"
    )
    parser.add_argument("path", type=Path, help="where to write the key (mode 0600)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing key file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from p2pfleet.core.errors import KeyFileError
    from p2pfleet.core.identity import key_fingerprint
    from p2pfleet.keys import generate_key_file

    try:
        identity = generate_key_file(args.path, overwrite=args.force)
    except KeyFileError as exc:
        fail(str(exc))
    info = {
        "path": str(args.path),
        "peer_id": identity.peer_id,
        "public_key": identity.public_key.hex(),
        "fingerprint": key_fingerprint(identity.public_key),
    }
    if args.json:
        print_json(info)
    else:
        out.print(
            f"wrote {args.path}\npeer id    {identity.peer_id}\npublic key {identity.public_key.hex()}"
        )
    return EXIT_OK
