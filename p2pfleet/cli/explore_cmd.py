"""`p2pfleet explore`: a passive peer serving a live page and JSON API of the fleet.

`--json --once` (or `--once`) listens for a while, prints one snapshot and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_verbosity,
    err,
    fail,
    out,
    print_json,
    setup_logging,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "explore", help="live web page and JSON API of the fleet (or one snapshot)"
    )
    parser.add_argument(
        "--bootstrap", action="append", required=True, help="multiaddr of a fleet node (repeatable)"
    )
    parser.add_argument(
        "--region",
        action="append",
        help="advert region to follow (repeatable; default: every region the nodes report)",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        help="HOST:PORT for the web page and API (default 127.0.0.1:8080; port 0 picks one)",
    )
    parser.add_argument(
        "--p2p-listen",
        action="append",
        help="overlay listen multiaddr (default /ip4/127.0.0.1/tcp/0)",
    )
    parser.add_argument(
        "--once", action="store_true", help="print one snapshot and exit (no web server)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one snapshot as JSON (implies --once)"
    )
    parser.add_argument(
        "--listen-seconds",
        type=float,
        default=6.0,
        help="with --once: how long to listen before printing (default 6)",
    )
    parser.add_argument(
        "--status-interval",
        type=float,
        default=10.0,
        help="seconds between status polls of each known node (default 10)",
    )
    parser.add_argument(
        "--history-db",
        type=Path,
        help="SQLite file that keeps the capacity history across restarts (default: memory only)",
    )
    add_verbosity(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    import trio

    from p2pfleet.explorer.server import parse_listen
    from p2pfleet.explorer.service import ExplorerConfig

    try:
        config = ExplorerConfig(
            bootstrap=tuple(args.bootstrap),
            regions=tuple(args.region or ()),
            p2p_listen=tuple(args.p2p_listen or ("/ip4/127.0.0.1/tcp/0",)),
            status_interval_s=args.status_interval,
            history_db=args.history_db,
        )
        parse_listen(args.listen)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    if args.once or args.json:
        snap = trio.run(_snapshot_once, config, args.listen_seconds)
        _print(snap, as_json=args.json)
        if not snap["peers"]:
            err.print(
                "no adverts heard: check the --bootstrap address, --region, the firewall, "
                "and that nodes are running"
            )
            return EXIT_FAILED
        return EXIT_OK
    try:
        trio.run(_serve, config, args.listen)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


async def _snapshot_once(config: Any, seconds: float) -> dict[str, Any]:
    import trio

    from p2pfleet.explorer.service import open_explorer

    async with open_explorer(config) as explorer:
        await trio.sleep(seconds)
        await explorer.poll_once()
        return explorer.snapshot()


async def _serve(config: Any, listen: str) -> None:
    from p2pfleet.explorer.server import serve_http
    from p2pfleet.explorer.service import open_explorer

    async with open_explorer(config) as explorer:
        import trio

        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_http, explorer, listen)
            err.print(f"explorer {explorer.host.peer_id} serving {url}  (Ctrl-C to stop)")


def _print(snap: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json(snap)
        return
    for row in snap["peers"]:
        out.print(
            f"{row['peer']}  {row['region']:<10} {row['state']:<9} battery {row['battery_pct']:>3}%  "
            f"slots {row['free_slots']}  {row['tier_watts']} W  age {row['age_s']} s"
        )
    summary = snap["summary"]
    out.print(
        f"{summary['peers']} peers, {summary['available']} available, "
        f"{summary['free_slots']} free slots, {summary['available_watts']} W"
    )
