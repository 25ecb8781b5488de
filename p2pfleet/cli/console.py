"""One console for all command output: results to stdout, diagnostics to stderr."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, NoReturn

from rich.console import Console

EXIT_OK = 0
EXIT_FAILED = 1  # the job or check ran and failed (e.g. a shard did not verify)
EXIT_USAGE = 2  # bad flags, config or input files
EXIT_NETWORK = 3  # could not reach the fleet

# Wide enough for the report tables when output goes to a file or a pipe.
_WIDTH = None if sys.stdout.isatty() else 120
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_WIDTH)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise SystemExit(code)


def setup_logging(verbosity: int, *, network: bool = True) -> None:
    """-q: errors only; default: warnings; -v: info; -vv: debug (py-libp2p stays at warning)."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    if not network:
        logging.basicConfig(
            level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
        )
        return
    from p2pfleet.net.logs import configure_logging

    configure_logging(level)


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=int(os.environ.get("P2PFLEET_VERBOSE", 0)),
        help="more log output (-vv for debug); env P2PFLEET_VERBOSE",
    )
    group.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbose", help="errors only"
    )
