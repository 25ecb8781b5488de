"""`p2pfleet demo`: a local fleet on loopback runs a real, verified job on every built-in model.

One job per model: the int8 MobileNetV2 (exact tier, hash agreement), the
float MobileNetV2 and MiniLM-L6 embeddings (tolerant tier: every replica
reveals, outputs compared by the model's comparator). One node lies.
"""

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

DEMO_MODELS = ("mobilenet_v2-int8", "mobilenet_v2-float", "minilm-l6-embed")


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="start a local fleet (one node lies on purpose) and run a verified job per model",
    )
    parser.add_argument("--nodes", type=int, default=5, help="node processes to start (>= 3)")
    parser.add_argument("--shard-size", type=int, default=2, help="images per shard")
    parser.add_argument(
        "--text-shard-size", type=int, default=8, help="sentences per shard (MiniLM job)"
    )
    parser.add_argument(
        "--models",
        default=",".join(DEMO_MODELS),
        help="comma-separated built-in models to run (default: all three)",
    )
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
    if args.json:
        print_json(report)
    if report["ok"]:
        out.print(
            f"[bold green]demo OK:[/] every shard of {len(report['jobs'])} job(s) verified by "
            "independent vehicles"
        )
        return EXIT_OK
    out.print("[bold red]demo FAILED:[/] some shards did not verify")
    return EXIT_FAILED


def _step(started: float, text: str) -> None:
    err.print(f"[dim]{time.monotonic() - started:7.2f}s[/]  {text}")


async def _demo(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    import platformdirs
    import trio

    from p2pfleet.inference.store import ModelStore
    from p2pfleet.models import CATALOG, ensure_builtin_model
    from p2pfleet.submit.client import ClientConfig, open_client
    from p2pfleet.submit.progress import render_report
    from p2pfleet.testing.fleet import LocalFleet

    started = time.monotonic()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in CATALOG]
    if unknown or not models:
        fail(f"--models: unknown {', '.join(unknown) or '(none)'}; use {', '.join(CATALOG)}")
    cache = ModelStore(Path(platformdirs.user_cache_dir("p2pfleet")) / "models")
    hashes: dict[str, str] = {}
    for name in models:
        entry = CATALOG[name]
        _step(started, f"model {name}: {entry.tier} tier, {entry.task}, {entry.comparator} check")
        hashes[name] = await trio.to_thread.run_sync(ensure_builtin_model, cache, name)
        _step(started, f"  ready, sha256 {hashes[name][:16]}…")

    setups = _vehicles(args)
    fleet = LocalFleet(
        base / "fleet", model_files=[cache.directory / f"{h}.model" for h in hashes.values()]
    )
    reports: list[dict[str, Any]] = []
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
            for model_hash in hashes.values():
                client.store.put(cache.get(model_hash))
            with trio.fail_after(60):
                await client.wait_for_nodes(args.nodes)
            _step(started, f"submitter heard signed adverts from all {args.nodes} nodes")
            for name, model_hash in hashes.items():
                reports.append(await _run_one(args, base, client, name, model_hash, started, names))
    finally:
        codes = await fleet.stop()
        _step(started, f"stopped all node processes (exit codes {codes})")
    if not args.json:
        for name, report in zip(hashes, reports, strict=True):
            out.rule(f"{name}: {report['tier']} tier, comparator {report['comparator']}")
            render_report(out, report, names)
            for line in _accepted_summary(report):
                out.print(line)
    ok = all(r["shards_verified"] == r["shards_total"] for r in reports)
    return {"ok": ok, "jobs": reports, "elapsed_s": round(time.monotonic() - started, 2)}


def _vehicles(args: argparse.Namespace) -> list[Any]:
    from p2pfleet.testing.fleet import VehicleSetup

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
    return setups


async def _run_one(
    args: argparse.Namespace,
    base: Path,
    client: Any,
    name: str,
    model_hash: str,
    started: float,
    names: dict[str, str],
) -> dict[str, Any]:
    from p2pfleet.models import CATALOG
    from p2pfleet.submit.job import SAMPLE_PHOTOS, SAMPLE_SENTENCES, JobSpec
    from p2pfleet.submit.report import build_report, write_outputs

    texts, tier = CATALOG[name].task == "embed-text", CATALOG[name].tier
    spec = JobSpec(
        model=model_hash,
        inputs=SAMPLE_SENTENCES if texts else SAMPLE_PHOTOS,
        # the tolerant jobs take bigger shards: fewer rounds keep the demo short
        shard_size=args.text_shard_size if texts else args.shard_size * (1 + (tier != "exact")),
        replicas=args.replicas,
        max_replicas=min(args.nodes, args.replicas + 3),
        output_dir=base / "output" / name,
    )

    def progress(record: Any) -> None:
        _step(
            started,
            f"  {name} shard {record.shard.index} verified "
            f"({len(record.agreeing)} agree, {len(record.dissenting)} disagree)",
        )

    what = "embed the bundled sentences" if texts else "classify scikit-image's bundled photos"
    check = "hash" if CATALOG[name].comparator == "exact" else CATALOG[name].comparator
    _step(started, f"submitting {name}: {what}, k={args.replicas} {check} agreement")
    result = await client.run_job(spec, on_shard=progress)
    write_outputs(result, spec.output_dir)
    report = build_report(result)
    report["model_name"] = name
    caught = ", ".join(names.get(p, p) for p in report["dissenters"]) or "nobody"
    _step(started, f"{name} done: {report['shards_verified']}/{report['shards_total']} shards "
          f"verified; caught: {caught}")  # fmt: skip
    return report


def _accepted_summary(report: dict[str, Any]) -> list[str]:
    """What was accepted, in one or two lines: top-1 labels, or embeddings and a close pair."""
    rows = report["predictions"]
    if report["task"] != "embed-text":
        labels = ", ".join(f"{r['input']} → {r['top'][0]['label']}" for r in rows[:6])
        return [f"accepted top-1: {labels}{', …' if len(rows) > 6 else ''}"]
    from p2pfleet.inference.texts import sample_sentences

    sentences = sample_sentences()

    def text(label: str) -> str:
        index = int(label.rsplit("-", 1)[-1]) if label.startswith("sentence-") else -1
        return sentences[index] if 0 <= index < len(sentences) else label

    paired = [r for r in rows if "nearest" in r]
    lines = [f"accepted {len(rows)} embeddings of {rows[0]['dims'] if rows else 0} dimensions"]
    if paired:
        best = max(paired, key=lambda r: r["nearest"]["cosine"])
        lines.append(
            f"nearest pair (cosine {best['nearest']['cosine']:.3f}): "
            f"“{text(best['input'])}” ~ “{text(best['nearest']['input'])}”"
        )
    return lines
