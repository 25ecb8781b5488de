"""`p2pfleet node`: run the vehicle daemon."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import EXIT_OK, EXIT_USAGE, add_verbosity, err, fail, out, setup_logging


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "node", help="run the vehicle node daemon"
    )
    parser.add_argument("--config", type=Path, help="node TOML file (see examples/node.toml)")
    parser.add_argument("--data-dir", type=Path, help="key, model cache and ledger folder")
    parser.add_argument("--listen", action="append", help="multiaddr to listen on (repeatable)")
    parser.add_argument(
        "--bootstrap", action="append", help="multiaddr of a peer to dial (repeatable)"
    )
    parser.add_argument("--region", help="region name advertised and served")
    parser.add_argument(
        "--check-config", action="store_true", help="validate the config file and exit"
    )
    parser.add_argument(
        "--ready-file", type=Path, help="write peer id and addresses as JSON once listening"
    )
    parser.add_argument(
        "--inject-fault", choices=["wrong-output"], help=argparse.SUPPRESS
    )  # demo/tests only
    add_verbosity(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from p2pfleet.node.config import ConfigError, NodeConfig, load_node_config

    overrides = {
        "data_dir": args.data_dir.resolve() if args.data_dir else None,
        "listen": tuple(args.listen) if args.listen else None,
        "bootstrap": tuple(args.bootstrap) if args.bootstrap else None,
        "region": args.region,
        "inject_fault": args.inject_fault,
    }
    try:
        if args.config:
            config = load_node_config(args.config, **overrides)
        else:
            config = NodeConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        fail(str(exc))
    if args.check_config:
        out.print(f"{args.config or 'defaults'}: OK")
        return EXIT_OK
    setup_logging(args.verbose)
    import trio

    from p2pfleet.core.errors import KeyFileError

    try:
        trio.run(_serve, config, args.ready_file)
    except KeyFileError as exc:
        fail(str(exc), EXIT_USAGE)
    return EXIT_OK


async def _serve(config: Any, ready_file: Path | None) -> None:
    import trio

    from p2pfleet.node.daemon import open_node

    async with open_node(config) as node:
        info = {"peer_id": node.peer_id, "addrs": node.host.listen_addrs(), "region": config.region}
        if ready_file is not None:
            tmp = ready_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(info))
            tmp.replace(ready_file)
        err.print(f"node {node.peer_id} listening on {', '.join(info['addrs'])}")
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                err.print(
                    f"received {signal.Signals(signum).name}: abandoning running work and stopping"
                )
                break
