"""`p2pfleet models`: list and build the built-in models into a model store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from p2pfleet.cli.console import EXIT_FAILED, EXIT_OK, out, print_json


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("models", help="list or build models")
    actions = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (("list", "list stored models"), ("build", "build the built-in models")):
        sub = actions.add_parser(name, help=help_text)
        sub.add_argument("--data-dir", type=Path, help="the node's or submitter's data folder")
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from p2pfleet.inference.runtime import model_info
    from p2pfleet.inference.store import ModelStore
    from p2pfleet.models import BUILTIN_MODELS, ensure_builtin_model
    from p2pfleet.node.config import default_data_dir

    store = ModelStore((args.data_dir or default_data_dir()) / "models")
    if args.action == "build":
        for name in BUILTIN_MODELS:
            ensure_builtin_model(store, name)
    rows = []
    for model_hash in store.hashes():
        info = model_info(store.get(model_hash))
        rows.append(
            {
                "name": info.name,
                "sha256": info.model_hash,
                "tier": info.tier,
                "runtime": info.runtime,
                "size": info.size,
                "license": info.license,
            }
        )
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            out.print(
                f"{row['name']:<22} {row['tier']:<9} {row['size']:>10,} B  {row['sha256']}  {row['license']}"
            )
        if not rows:
            out.print(f"no models in {store.directory}; run `p2pfleet models build`")
    return EXIT_OK if rows else EXIT_FAILED
