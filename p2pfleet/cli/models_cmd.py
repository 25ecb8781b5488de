"""`p2pfleet models list | build | verify`: the models in a store, their identity and health.

Exit codes: 0 ok; 1 the store is empty (list) or a self-check failed (verify).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import EXIT_FAILED, EXIT_OK, out, print_json

ACTIONS = (
    ("list", "list stored models: hash, tier, size, license"),
    ("build", "build the built-in models into the store and self-check them"),
    ("verify", "re-hash every stored model and run its self-check on known inputs"),
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "models", help="list, build or verify models"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    for name, help_text in ACTIONS:
        sub = actions.add_parser(name, help=help_text)
        sub.add_argument("--data-dir", type=Path, help="the node's or submitter's data folder")
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        sub.set_defaults(run=run)


def _row(model_bytes: bytes) -> dict[str, Any]:
    from p2pfleet.inference.runtime import model_info

    info = model_info(model_bytes)
    return {
        "name": info.name,
        "sha256": info.model_hash,
        "tier": info.tier,
        "task": info.task,
        "comparator": info.comparator,
        "runtime": info.runtime,
        "size": info.size,
        "license": info.license,
    }


def run(args: argparse.Namespace) -> int:
    from p2pfleet.inference.store import ModelIntegrityError, ModelStore
    from p2pfleet.models import BUILTIN_MODELS, ensure_builtin_model
    from p2pfleet.node.config import default_data_dir

    store = ModelStore((args.data_dir or default_data_dir()) / "models")
    if args.action == "build":
        for name in BUILTIN_MODELS:
            if not args.json:
                out.print(f"building {name} …")
            ensure_builtin_model(store, name)
    rows = []
    failed = 0
    for model_hash in store.hashes():
        try:
            data = store.get(model_hash)
        except ModelIntegrityError as exc:
            rows.append({"sha256": model_hash, "name": "?", "check": "failed", "detail": str(exc)})
            failed += 1
            continue
        row = _row(data)
        if args.action in ("build", "verify"):
            from p2pfleet.inference.selfcheck import self_check

            result = self_check(data)
            row.update(check="passed" if result.passed else "failed", detail=result.detail)
            failed += not result.passed
        rows.append(row)
    _show(rows, args, store.directory)
    if not rows or failed:
        return EXIT_FAILED
    return EXIT_OK


def _show(rows: list[dict[str, Any]], args: argparse.Namespace, directory: Path) -> None:
    if args.json:
        print_json(rows)
        return
    if not rows:
        out.print(f"no models in {directory}; run `p2pfleet models build`")
        return
    for row in rows:
        if "tier" in row:
            out.print(f"{row['name']:<20} {row['tier']:<8} {row['size']:>11,} B  {row['license']}")
            out.print(f"  sha256 {row['sha256']}")
        if "check" in row:
            mark = "[green]ok[/]" if row["check"] == "passed" else "[bold red]FAILED[/]"
            out.print(f"  self-check {mark}: {row['detail']}")
