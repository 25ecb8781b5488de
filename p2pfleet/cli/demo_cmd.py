"""`p2pfleet demo`: a local fleet on loopback runs a real, verified inference job."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import (
    EXIT_FAILED,
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
        "demo", help="start a local fleet (one node lies on purpose) and run a verified job"
    )
    parser.add_argument("--nodes", type=int, default=5, help="node processes to start (>= 3)")
    parser.add_argument("--shard-size", type=int, default=2, help="images per shard")
    parser.add_argument(
        "--replicas", type=int, default=2, help="agreeing replicas needed per shard"
    )
    parser.add_argument("--no-fault", action="store_true", help="start only honest nodes")
    parser.add_argument(
        "--dir", type=Path, help="keep the fleet's files here (default: a temp folder)"
    )
    parser.add_argument("--json", action="store_true", help="print the job report as JSON")
    add_verbosity(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.nodes < 3:
        fail("--nodes must be at least 3 (two agreeing replicas plus a spare)")
    setup_logging(args.verbose)
    import trio

    from p2pfleet.testing.fleet import FleetStartError

    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        base = args.dir.resolve()
        return _finish(trio.run(_demo, args, base), args)
    with tempfile.TemporaryDirectory(prefix="p2pfleet-demo-") as tmp:
        try:
            return _finish(trio.run(_demo, args, Path(tmp)), args)
        except FleetStartError as exc:
            fail(str(exc), EXIT_FAILED)


def _finish(report: dict[str, Any], args: argparse.Namespace) -> int:
    verified = report["shards_verified"] == report["shards_total"]
    if args.json:
        print_json(report)
    if verified:
        out.print("[bold green]demo OK:[/] every shard verified by independent vehicles")
        return EXIT_OK
    out.print("[bold red]demo FAILED:[/] some shards did not verify")
    return EXIT_FAILED


def _step(started: float, text: str) -> None:
    err.print(f"[dim]{time.monotonic() - started:7.2f}s[/]  {text}")


async def _demo(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    import platformdirs
    import trio

    from p2pfleet.inference.runtime import MODEL_NAME
    from p2pfleet.inference.store import ModelStore
    from p2pfleet.models import ensure_builtin_model
    from p2pfleet.submit.client import ClientConfig, open_client
    from p2pfleet.submit.job import JobSpec
    from p2pfleet.submit.progress import render_report
    from p2pfleet.submit.report import build_report, write_outputs
    from p2pfleet.testing.fleet import LocalFleet, VehicleSetup

    started = time.monotonic()
    cache = ModelStore(Path(platformdirs.user_cache_dir("p2pfleet")) / "models")
    _step(
        started,
        f"model {MODEL_NAME}: integer-only MobileNetV2 built from the installed ImageNet weights",
    )
    model_hash = await trio.to_thread.run_sync(ensure_builtin_model, cache, MODEL_NAME)
    _step(started, f"model ready, sha256 {model_hash[:16]}…")

    setups = [
        VehicleSetup(
            name=f"car-{i + 1}",
            state="charging" if i % 2 else "parked",
            battery_pct=55 + 9 * i % 40,
            tier_watts=(150, 300, 600)[i % 3],
        )
        for i in range(args.nodes)
    ]
    if not args.no_fault:
        last = setups[-1]
        setups[-1] = VehicleSetup(
            name=last.name,
            state=last.state,
            battery_pct=last.battery_pct,
            tier_watts=last.tier_watts,
            fault="wrong-output",
        )
    fleet = LocalFleet(base / "fleet", model_files=[cache.directory / f"{model_hash}.model"])
    try:
        _step(
            started,
            f"starting {args.nodes} node processes on 127.0.0.1"
            + ("" if args.no_fault else f" ({setups[-1].name} returns wrong outputs on purpose)"),
        )
        await fleet.start(setups)
        names = {
            n.peer_id: n.setup.name + (" (faulty)" if n.setup.fault else "") for n in fleet.nodes
        }
        for node in fleet.nodes:
            _step(
                started, f"  {node.setup.name}  {node.peer_id}  {node.addrs[0].split('/p2p/')[0]}"
            )
        config = ClientConfig(data_dir=base / "submitter", bootstrap=tuple(fleet.bootstrap))
        async with open_client(config) as client:
            client.store.put(cache.get(model_hash))
            with trio.fail_after(60):
                await client.wait_for_nodes(args.nodes)
            _step(started, f"submitter heard signed adverts from all {args.nodes} nodes")
            spec = JobSpec(
                model=model_hash,
                shard_size=args.shard_size,
                replicas=args.replicas,
                max_replicas=min(args.nodes, args.replicas + 3),
                output_dir=base / "output",
            )

            def progress(record: Any) -> None:
                _step(
                    started,
                    f"shard {record.shard.index} verified "
                    f"({len(record.agreeing)} agree, {len(record.dissenting)} disagree)",
                )

            _step(
                started,
                "submitting: classify scikit-image's bundled photos, k=2 exact-hash agreement",
            )
            result = await client.run_job(spec, on_shard=progress)
    finally:
        codes = await fleet.stop()
        _step(started, f"stopped all node processes (exit codes {codes})")
    write_outputs(result, spec.output_dir)
    report = build_report(result)
    if not args.json:
        render_report(out, report, names)
    return report
