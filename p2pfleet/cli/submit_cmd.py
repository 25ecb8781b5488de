"""`p2pfleet submit JOB.toml` / `p2pfleet submit --resume JOB_ID`: run a verified job."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
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
    setup_logging,
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "submit", help="run a verified job on the fleet (or resume a journaled one)"
    )
    parser.add_argument("job", type=Path, nargs="?", help="job TOML file (see examples/job.toml)")
    parser.add_argument(
        "--resume", metavar="JOB_ID", help="finish a job from the journal (after a crash or kill)"
    )
    parser.add_argument(
        "--bootstrap", action="append", required=True, help="multiaddr of a fleet node (repeatable)"
    )
    parser.add_argument("--data-dir", type=Path, help="submitter key, journal and model folder")
    parser.add_argument(
        "--region", action="append", help="advert regions to follow (default: local)"
    )
    parser.add_argument(
        "--attested-only",
        action="store_true",
        help="use only nodes whose region a trusted authority certified",
    )
    parser.add_argument(
        "--trust-authority",
        action="append",
        default=[],
        metavar="HEX",
        help="region-authority public key to trust (repeatable)",
    )
    parser.add_argument(
        "--wait-nodes",
        type=int,
        help="nodes to hear from before starting (default: the job's replicas)",
    )
    parser.add_argument("--wait-timeout", type=float, default=60.0, help="seconds to wait for them")
    parser.add_argument(
        "--json", action="store_true", help="one JSON event per line, then the report"
    )
    add_verbosity(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from p2pfleet.submit.job import JobSpecError, load_job_spec

    if (args.job is None) == (args.resume is None):
        fail("give a job file or --resume JOB_ID (not both)")
    spec = None
    if args.job is not None:
        try:
            spec = load_job_spec(args.job)
        except JobSpecError as exc:
            fail(str(exc))
        if args.attested_only:
            spec = dataclasses.replace(spec, attested_only=True)
    try:
        authorities = tuple(bytes.fromhex(a) for a in args.trust_authority)
    except ValueError:
        fail("--trust-authority takes a 64-hex public key")
    if any(len(a) != 32 for a in authorities):
        fail("--trust-authority takes a 64-hex public key")
    if spec is not None and spec.attested_only and not authorities:
        fail("attested_only needs at least one --trust-authority key")
    if args.wait_nodes is None:
        args.wait_nodes = spec.replicas if spec is not None else 2
    setup_logging(args.verbose)
    import trio

    from p2pfleet.submit.client import ClientConfig
    from p2pfleet.submit.coordinator import ShardFailedError
    from p2pfleet.submit.journal import JournalError

    kwargs: dict[str, Any] = {
        "bootstrap": tuple(args.bootstrap),
        "trusted_authorities": authorities,
    }
    if args.data_dir:
        kwargs["data_dir"] = args.data_dir.resolve()
    if args.region:
        kwargs["regions"] = tuple(args.region)
    try:
        report = trio.run(_submit, ClientConfig(**kwargs), spec, args)
    except trio.TooSlowError:
        fail(
            f"heard from fewer than {args.wait_nodes} nodes in {args.wait_timeout:.0f} s; "
            "check --bootstrap and that nodes run in the same region",
            EXIT_NETWORK,
        )
    except ShardFailedError as exc:
        fail(f"{exc}; the journal keeps what was verified: retry with --resume", EXIT_FAILED)
    except JournalError as exc:
        fail(str(exc))
    if args.json:
        sys.stdout.write(json.dumps({"event": "report", **report}) + "\n")
    else:
        from p2pfleet.submit.progress import render_report

        render_report(out, report)
        err.print(f"outputs written to {report['output_dir']}")
    return EXIT_OK if report["shards_verified"] == report["shards_total"] else EXIT_FAILED


async def _submit(config: Any, spec: Any, args: argparse.Namespace) -> dict[str, Any]:
    import trio

    from p2pfleet.submit.client import open_client
    from p2pfleet.submit.progress import ProgressDisplay, json_events
    from p2pfleet.submit.report import build_report, write_outputs

    async with open_client(config) as client:
        with trio.fail_after(args.wait_timeout):
            await client.wait_for_nodes(args.wait_nodes)
        with ProgressDisplay(err, enabled=not args.json) as display:
            sink = json_events if args.json else display.feed
            if spec is None:
                result = await client.resume_job(args.resume, on_event=sink)
            else:
                result = await client.run_job(spec, on_event=sink)
    write_outputs(result, result.spec.output_dir)
    report = build_report(result)
    report["output_dir"] = str(result.spec.output_dir)
    return report
