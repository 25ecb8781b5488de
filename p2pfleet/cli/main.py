"""`p2pfleet`: one console script, one module per command (heavy imports inside commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from p2pfleet.cli import (
    demo_cmd,
    explore_cmd,
    keygen_cmd,
    models_cmd,
    node_cmd,
    region_cert_cmd,
    simulate_cmd,
    submit_cmd,
)
from p2pfleet.cli.console import err

COMMANDS = (node_cmd, submit_cmd, explore_cmd, demo_cmd, keygen_cmd, models_cmd, region_cert_cmd)
COMMANDS_MORE = (simulate_cmd,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="p2pfleet",
        description="Peer-to-peer volunteer inference on parked vehicles.",
        epilog="Exit codes: 0 ok, 1 job/check failed, 2 usage or config error, 3 network error.",
    )
    parser.add_argument("--version", action="version", version="p2pfleet 0.1.0")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (*COMMANDS, *COMMANDS_MORE):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except KeyboardInterrupt:
        err.print("interrupted")
        code = 130
    sys.exit(code or 0)
