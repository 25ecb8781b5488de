"""Human-readable rendering of a finished job (the demo and `p2pfleet submit`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def short(peer_id: str) -> str:
    return peer_id[:8] + "…" + peer_id[-6:]


def render_report(
    console: Console, report: dict[str, Any], names: dict[str, str] | None = None
) -> None:
    names = names or {}

    def label(peer: str) -> str:
        return names.get(peer, short(peer))

    table = Table(
        title=f"job {report['job_id'][:16]}…  ({report['policy']['name']}, k={report['policy']['replicas']})"
    )
    for column in ("shard", "inputs", "verified output (sha256)", "agreeing", "disagreeing", "ms"):
        table.add_column(column)
    for shard in report["shards"]:
        table.add_row(
            str(shard["shard"]),
            ", ".join(shard["inputs"]),
            (shard["output_sha256"] or "-")[:16] + "…",
            ", ".join(label(p) for p in shard["agreeing"]),
            "[red]" + ", ".join(label(p) for p in shard["dissenting"]) + "[/]"
            if shard["dissenting"]
            else "",
            str(shard["elapsed_ms"]),
        )
    console.print(table)
    predictions = Table(title="predictions (verified)")
    for column in ("input", "top-1", "p", "runner-up"):
        predictions.add_column(column)
    for row in report["predictions"]:
        top = row["top"]
        predictions.add_row(
            row["input"],
            top[0]["label"],
            f"{top[0]['p']:.2f}",
            f"{top[1]['label']} ({top[1]['p']:.2f})" if len(top) > 1 else "",
        )
    console.print(predictions)
    if report["dissenters"]:
        for peer, count in report["dissenters"].items():
            console.print(
                f"[bold red]caught disagreeing:[/] {label(peer)} ({peer}) on {count} shard(s)"
            )
    else:
        console.print("no replica disagreed")
    console.print(
        f"{report['shards_verified']}/{report['shards_total']} shards verified, "
        f"{report['replica_runs']} replica runs (verification overhead {report['verification_overhead_pct']}% "
        f"of one-replica compute), {report['elapsed_s']:.2f} s"
    )
