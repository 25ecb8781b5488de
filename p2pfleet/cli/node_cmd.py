"""`p2pfleet node`: run the vehicle daemon; `p2pfleet node status`: ask the running one."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import (
    EXIT_NETWORK,
    EXIT_OK,
    EXIT_USAGE,
    add_verbosity,
    err,
    fail,
    out,
    print_json,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "node",
        help="run the vehicle node daemon, or show a running node's status",
        description="Run the vehicle node daemon (default), or `status` to query the running one.",
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=["run", "status"],
        default="run",
        help="run (default): start the daemon; status: show the running daemon's status",
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
    parser.add_argument("--json", action="store_true", help="status: print JSON")
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default=os.environ.get("P2PFLEET_LOG_FORMAT", "text"),
        help="text (default) or json: one JSON object per line; env P2PFLEET_LOG_FORMAT",
    )
    parser.add_argument(
        "--inject-fault", choices=["wrong-output"], help=argparse.SUPPRESS
    )  # demo/tests only
    add_verbosity(parser)
    parser.set_defaults(run=run)


def _load_config(args: argparse.Namespace) -> Any:
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
            return load_node_config(args.config, **overrides)
        return NodeConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        from rich.markup import escape

        problems = [escape(p) for p in str(exc).splitlines()] or ["invalid configuration"]
        if len(problems) == 1:
            fail(problems[0])
        fail(f"{args.config}: {len(problems)} problems\n" + "\n".join(f"  - {p}" for p in problems))


def run(args: argparse.Namespace) -> int:
    config = _load_config(args)
    if args.check_config:
        from rich.markup import escape

        from p2pfleet.node.config_sections import describe_policy

        for warning in _region_cert_warnings(config):
            err.print(f"[yellow]warning:[/] {escape(warning)}")
        out.print(f"{args.config or 'defaults'}: OK")
        for line in describe_policy(config.policy):
            out.print(f"  {escape(line)}")
        return EXIT_OK
    if args.action == "status":
        return _status(config, as_json=args.json)
    from p2pfleet.net.logs import configure_logging

    configure_logging(_level(args.verbose), log_format=args.log_format)
    import trio

    from p2pfleet.core.errors import KeyFileError
    from p2pfleet.node.config import ConfigError

    try:
        trio.run(_serve, config, args.ready_file)
    except (KeyFileError, ConfigError) as exc:
        from rich.markup import escape

        fail(escape(str(exc)), EXIT_USAGE)
    return EXIT_OK


def _region_cert_warnings(config: Any) -> list[str]:
    import time

    from rich.markup import escape

    from p2pfleet.node.config import ConfigError
    from p2pfleet.node.config_region_cert import check_config_region_cert

    try:
        return check_config_region_cert(config, int(time.time()))
    except ConfigError as exc:
        fail(escape(str(exc)))


def _level(verbosity: int) -> int:
    import logging

    return {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)


async def _serve(config: Any, ready_file: Path | None) -> None:
    import trio

    from p2pfleet.node.daemon import open_node

    # Catch SIGTERM from the start: one sent while the node starts up drains it once up.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_node(config) as node:
            info = {
                "peer_id": node.peer_id,
                "addrs": node.host.listen_addrs(),
                "region": config.region,
                "control_url": node.control_url,
                "metrics_url": node.metrics_url,
            }
            if ready_file is not None:
                tmp = ready_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(info))
                tmp.replace(ready_file)
            err.print(f"node {node.peer_id} listening on {', '.join(info['addrs'])}")
            signum = await signals.__anext__()
            grace = config.drain_grace_s
            err.print(
                f"received {signal.Signals(signum).name}: finishing running work"
                f" (up to {grace:g} s; signal again to abandon it now)"
            )
            async with trio.open_nursery() as nursery:

                async def abandon_on_second_signal() -> None:
                    async for _ in signals:
                        err.print("second signal: abandoning running work now")
                        await node.drain(0)

                nursery.start_soon(abandon_on_second_signal)
                finished = await node.drain(grace)
                nursery.cancel_scope.cancel()
            err.print("all work finished; stopping" if finished else "abandoned work; stopping")


def _status(config: Any, *, as_json: bool) -> int:
    import urllib.error
    import urllib.request

    try:
        url = json.loads(config.control_file.read_text())["url"]
    except (OSError, ValueError, KeyError):
        fail(
            f"no running node found: {config.control_file} is missing or unreadable "
            "(start `p2pfleet node` with the same --config/--data-dir)",
            EXIT_NETWORK,
        )
    try:
        with urllib.request.urlopen(f"{url}/status", timeout=10) as response:
            status = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        fail(f"the node's control endpoint {url} did not answer: {exc}", EXIT_NETWORK)
    if as_json:
        print_json(status)
        return EXIT_OK
    _print_status(status)
    return EXIT_OK


def _print_status(s: dict[str, Any]) -> None:
    accepting = "yes" if s["accepting"] else f"no ({s['refusal']})"
    cap = "no cap" if s["cellular_cap_mb"] is None else f"cap {s['cellular_cap_mb']} MB"
    temperature = "-" if s["temperature_c"] is None else f"{s['temperature_c']:g} °C"
    rows = [
        ("peer", s["peer_id"]),
        ("region", s["region"]),
        ("vehicle", f"{s['state']}, battery {s['battery_pct']} %, link {s['link']}, {temperature}"),
        ("taking work", accepting + (" — draining" if s["draining"] else "")),
        ("peers", f"{s['connected_peers']} connected, {s['known_adverts']} live adverts"),
        ("running tasks", f"{s['running_tasks']} of {s['max_concurrent_tasks']}"),
        ("tasks today", f"{s['tasks_completed_today']} completed of {s['tasks_today']}"),
        ("energy today", f"{s['energy_today_wh']:.2f} Wh of {s['energy_budget_wh']} Wh budget"),
        ("cellular today", f"{s['cellular_mb_today']:.2f} MB ({cap}; models included)"),
        ("models today", f"{s['model_mb_today']:.2f} MB downloaded and served"),
        ("uptime", f"{s['uptime_s']:.0f} s"),
    ]
    for name, value in rows:
        out.print(f"{name:>15}  {value}")
