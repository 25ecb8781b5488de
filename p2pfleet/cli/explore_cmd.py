"""`p2pfleet explore --json`: join the overlay passively and print what it hears."""

from __future__ import annotations

import argparse
from typing import Any

from p2pfleet.cli.console import (
    EXIT_FAILED,
    EXIT_OK,
    add_verbosity,
    err,
    out,
    print_json,
    setup_logging,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "explore", help="list the fleet's peers and adverts"
    )
    parser.add_argument(
        "--bootstrap", action="append", required=True, help="multiaddr of a fleet node (repeatable)"
    )
    parser.add_argument(
        "--region", action="append", help="advert regions to follow (default: local)"
    )
    parser.add_argument(
        "--listen-seconds", type=float, default=6.0, help="how long to listen for adverts"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON snapshot")
    add_verbosity(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    import trio

    snap = trio.run(
        _listen, tuple(args.bootstrap), tuple(args.region or ["local"]), args.listen_seconds
    )
    if args.json:
        print_json(snap)
    else:
        for row in snap["peers"]:
            out.print(
                f"{row['peer']}  {row['region']:<10} {row['state']:<9} battery {row['battery_pct']:>3}%  "
                f"slots {row['free_slots']}  {row['tier_watts']} W  age {row['age_s']} s"
            )
        summary = snap["summary"]
        out.print(
            f"{summary['peers']} peers, {summary['available']} available, {summary['free_slots']} free slots"
        )
    if not snap["peers"]:
        err.print(
            "no adverts heard: check --bootstrap addresses and --region, and that nodes are running"
        )
        return EXIT_FAILED
    return EXIT_OK


async def _listen(
    bootstrap: tuple[str, ...], regions: tuple[str, ...], seconds: float
) -> dict[str, Any]:
    import secrets

    import trio

    from p2pfleet.explorer.snapshot import snapshot
    from p2pfleet.net.host import HostConfig, open_host
    from p2pfleet.peerview import PeerView, now_ms

    # A throwaway identity: the explorer is a passive peer and never takes work.
    config = HostConfig(
        seed=secrets.token_bytes(32), listen_addrs=("/ip4/127.0.0.1/tcp/0",), bootstrap=bootstrap
    )
    async with open_host(config) as host:
        view = PeerView(host)
        async with trio.open_nursery() as nursery:
            await nursery.start(view.follow, list(regions))
            await trio.sleep(seconds)
            nursery.cancel_scope.cancel()
    return snapshot(view.live(), now_ms())
