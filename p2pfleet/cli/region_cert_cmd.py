"""`p2pfleet region-cert issue|show`: region authorities certify where node keys operate."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import EXIT_FAILED, EXIT_OK, fail, out, print_json


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "region-cert", help="issue or inspect region certificates (attested regions)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    issue = actions.add_parser("issue", help="sign a region certificate for a node key")
    issue.add_argument(
        "--authority-key", type=Path, required=True, help="the region authority's key file"
    )
    issue.add_argument(
        "--node", required=True, help="the node's peer id (12D3KooW...) or 64-hex public key"
    )
    issue.add_argument("--region", required=True, help="the region the node operates in")
    issue.add_argument("--days", type=float, default=90.0, help="validity from now (days)")
    issue.add_argument("--out", type=Path, help="write the certificate (hex) to this file")
    issue.add_argument("--json", action="store_true", help="print the result as JSON")
    issue.set_defaults(run=run_issue)
    show = actions.add_parser("show", help="decode and check a certificate file")
    show.add_argument("file", type=Path, help="certificate file (hex), as written by `issue`")
    show.add_argument(
        "--authority", action="append", default=[], help="trusted authority public key (hex)"
    )
    show.add_argument("--json", action="store_true", help="print the result as JSON")
    show.set_defaults(run=run_show)


def _node_key(text: str) -> bytes:
    from p2pfleet.core.identity import public_key_from_peer_id

    try:
        return bytes.fromhex(text) if len(text) == 64 else public_key_from_peer_id(text)
    except ValueError:
        fail(f"--node {text!r} is neither a peer id nor a 64-hex public key")


def run_issue(args: argparse.Namespace) -> int:
    from p2pfleet.core.errors import KeyFileError
    from p2pfleet.core.region_cert import RegionCert, issue_region_cert
    from p2pfleet.keys import load_key_file

    try:
        authority = load_key_file(args.authority_key)
    except KeyFileError as exc:
        fail(str(exc))
    now = int(time.time())
    try:
        cert = RegionCert(
            node_key=_node_key(args.node),
            region=args.region,
            not_before_s=now - 60,  # tolerate a little clock skew
            not_after_s=now + int(args.days * 86400),
        )
    except ValueError as exc:
        fail(f"cannot issue: {exc}")
    signed = issue_region_cert(authority, cert)
    if args.out:
        args.out.write_text(signed.wire.hex() + "\n")
    info = _describe(signed.wire, signed.authority, cert)
    if args.json:
        print_json(info)
    else:
        out.print(f"region {cert.region} for {info['node_peer_id']}, {len(signed.wire)} bytes")
        out.print(f"authority {signed.authority.hex()}")
        out.print(f"wrote {args.out}" if args.out else signed.wire.hex())
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    from p2pfleet.core.errors import RemoteProtocolError
    from p2pfleet.core.region_cert import check_region_cert, open_region_cert

    try:
        wire = bytes.fromhex(args.file.read_text().strip())
        signed = open_region_cert(wire)
    except FileNotFoundError:
        fail(f"certificate file {args.file} not found")
    except (ValueError, RemoteProtocolError) as exc:
        fail(f"{args.file} is not a valid region certificate: {exc}")
    info = _describe(wire, signed.authority, signed.cert)
    code = EXIT_OK
    if args.authority:
        try:
            check_region_cert(
                wire,
                node_key=signed.cert.node_key,
                region=signed.cert.region,
                trusted={bytes.fromhex(a) for a in args.authority},
                now_s=int(time.time()),
            )
            info["valid"] = True
        except RemoteProtocolError as exc:
            info["valid"], info["problem"] = False, str(exc)
            code = EXIT_FAILED
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            out.print(f"{key:16} {value}")
    return code


def _describe(wire: bytes, authority: bytes, cert: Any) -> dict[str, Any]:
    from p2pfleet.core.identity import peer_id_from_public_key

    return {
        "region": cert.region,
        "node_peer_id": peer_id_from_public_key(cert.node_key),
        "authority": authority.hex(),
        "not_before": cert.not_before_s,
        "not_after": cert.not_after_s,
        "bytes": len(wire),
        "hex": wire.hex(),
    }
