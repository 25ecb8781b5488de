"""Job progress for people (a live counts table, the final report) and scripts (`--json`)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from p2pfleet.submit.events import EventKind, JobEvent, ShardCounts


def short(peer_id: str) -> str:
    return peer_id[:8] + "…" + peer_id[-6:]


def render_report(
    console: Console, report: dict[str, Any], names: dict[str, str] | None = None
) -> None:
    names = names or {}

    def label(peer: str) -> str:
        return names.get(peer, short(peer))

    table = Table(
        title=f"job {report['job_id'][:16]}…  ({report['policy']['name']}, k={report['policy']['replicas']}, "
        f"comparator {report.get('comparator', 'exact')})"
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
    embeddings = report.get("task") == "embed-text"
    columns = (
        ("input", "dims", "nearest", "cosine")
        if embeddings
        else ("input", "top-1", "p", "runner-up")
    )
    for column in columns:
        predictions.add_column(column)
    for row in report["predictions"]:
        if embeddings:
            nearest = row.get("nearest", {})
            predictions.add_row(
                row["input"],
                str(row["dims"]),
                nearest.get("input", "-"),
                f"{nearest['cosine']:.3f}" if nearest else "",
            )
            continue
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
    if report.get("canaries"):
        console.print(
            f"canaries: {report['canaries_passed']}/{report['canaries']} passed; "
            f"accepted unchecked from trusted nodes: {len(report['shards_unchecked'])} shard(s)"
        )
    if report.get("shards_recomputed_locally"):
        console.print(
            f"settled by this machine's own run (replicas disagreed): "
            f"{len(report['shards_recomputed_locally'])} shard(s)"
        )
    if report.get("shards_resumed"):
        console.print(f"{report['shards_resumed']} shard(s) were already done in the journal")
    console.print(
        f"{report['shards_verified']}/{report['shards_total']} shards verified, "
        f"{report['replica_runs']} replica runs (verification overhead {report['verification_overhead_pct']}% "
        f"of one-replica compute), {report['elapsed_s']:.2f} s"
    )


def json_events(event: JobEvent) -> None:
    """`--json`: one compact JSON object per line, flushed, for scripts."""
    sys.stdout.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")
    sys.stdout.flush()


class ProgressDisplay:
    """A live line of shard counts: queued, running, committed, verified, disputed, reassigned."""

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.counts = ShardCounts()
        self._console = console
        self._live: Live | None = (
            Live(console=console, refresh_per_second=4, transient=False) if enabled else None
        )

    def __enter__(self) -> ProgressDisplay:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)

    def feed(self, event: JobEvent) -> None:
        self.counts.feed(event)
        if event.kind is EventKind.JOB_STARTED:
            self._console.print(
                f"job {event.job_id}  (if interrupted: p2pfleet submit --resume {event.job_id})"
            )
        if event.kind is EventKind.CAUGHT:
            self._console.print(f"[bold red]caught[/] {short(event.peer or '?')}: {event.detail}")
        if self._live is not None:
            self._live.update(self.render())

    def render(self) -> Table:
        states = self.counts.by_state()
        table = Table(box=None, show_header=True, pad_edge=False)
        for column in (
            "shards",
            "queued",
            "running",
            "committed",
            "verified",
            "disputed",
            "reassigned",
            "caught",
        ):
            table.add_column(column, justify="right")
        table.add_row(
            str(self.counts.total),
            str(states["queued"]),
            str(states["running"]),
            str(states["committed"]),
            f"[green]{states['verified']}[/]",
            f"[yellow]{self.counts.disputed}[/]",
            str(self.counts.reassigned),
            f"[red]{self.counts.caught}[/]",
        )
        return table
