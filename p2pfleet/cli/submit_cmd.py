"""`p2pfleet submit JOB.toml`: shard a job, verify it on the fleet, write outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import (
    EXIT_FAILED,
    EXIT_NETWORK,
    EXIT_OK,
    add_verbosity,
    err,
    fail,
    out,
    print_json,
    setup_logging,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "submit", help="run a verified job on the fleet"
    )
    parser.add_argument("job", type=Path, help="job TOML file (see examples/job.toml)")
    parser.add_argument(
        "--bootstrap", action="append", required=True, help="multiaddr of a fleet node (repeatable)"
    )
    parser.add_argument("--data-dir", type=Path, help="submitter key and model store folder")
    parser.add_argument(
        "--region", action="append", help="advert regions to follow (default: local)"
    )
    parser.add_argument(
        "--wait-nodes", type=int, default=2, help="nodes to hear from before starting"
    )
    parser.add_argument("--wait-timeout", type=float, default=60.0, help="seconds to wait for them")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_verbosity(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from p2pfleet.submit.job import JobSpecError, load_job_spec

    try:
        spec = load_job_spec(args.job)
    except JobSpecError as exc:
        fail(str(exc))
    setup_logging(args.verbose)
    import trio

    from p2pfleet.submit.client import ClientConfig
    from p2pfleet.submit.coordinator import ShardFailedError

    kwargs: dict[str, Any] = {"bootstrap": tuple(args.bootstrap)}
    if args.data_dir:
        kwargs["data_dir"] = args.data_dir.resolve()
    if args.region:
        kwargs["regions"] = tuple(args.region)
    try:
        report = trio.run(_submit, ClientConfig(**kwargs), spec, args.wait_nodes, args.wait_timeout)
    except trio.TooSlowError:
        fail(
            f"heard from fewer than {args.wait_nodes} nodes in {args.wait_timeout:.0f} s; "
            "check --bootstrap and that nodes run in the same region",
            EXIT_NETWORK,
        )
    except ShardFailedError as exc:
        fail(str(exc), EXIT_FAILED)
    if args.json:
        print_json(report)
    else:
        from p2pfleet.submit.progress import render_report

        render_report(out, report)
        err.print(f"outputs written to {spec.output_dir}")
    return EXIT_OK if report["shards_verified"] == report["shards_total"] else EXIT_FAILED


async def _submit(config: Any, spec: Any, wait_nodes: int, wait_timeout: float) -> dict[str, Any]:
    import trio

    from p2pfleet.submit.client import open_client
    from p2pfleet.submit.report import build_report, write_outputs

    async with open_client(config) as client:
        with trio.fail_after(wait_timeout):
            await client.wait_for_nodes(wait_nodes)
        result = await client.run_job(
            spec, on_shard=lambda r: err.print(f"shard {r.shard.index} verified")
        )
    write_outputs(result, spec.output_dir)
    return build_report(result)
