"""The layering rule (DESIGN.md): core is sans-IO, and only p2pfleet.net touches libp2p."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "p2pfleet"
CORE_FORBIDDEN = {"trio", "libp2p", "socket", "sqlite3", "onnxruntime", "asyncio", "subprocess"}


def package_of(path: Path) -> list[str]:
    """The package a module's relative imports resolve against, e.g. ['p2pfleet', 'core']."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1]  # for a package's __init__ too: its parent dir is the package


def imported_modules(source: str, package: list[str]) -> Iterator[tuple[int, str]]:
    """Absolute names of everything `source` imports, at any depth (functions too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield node.lineno, prefix
            for alias in node.names:  # `from p2pfleet import net` imports p2pfleet.net
                yield node.lineno, f"{prefix}.{alias.name}"


def forbidden_in_core(name: str) -> bool:
    top = name.split(".")[0]
    if top in CORE_FORBIDDEN:
        return True
    return top == "p2pfleet" and name != "p2pfleet" and not name.startswith("p2pfleet.core")


def test_core_is_sans_io() -> None:
    files = sorted((PACKAGE / "core").rglob("*.py"))
    assert files, "p2pfleet/core has no modules"
    problems = [
        f"{path}:{line} imports {name}"
        for path in files
        for line, name in imported_modules(path.read_text(encoding="utf-8"), package_of(path))
        if forbidden_in_core(name)
    ]
    assert not problems, "\n".join(problems)


def test_only_net_imports_libp2p() -> None:
    problems = [
        f"{path}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (PACKAGE / "net") not in path.parents
        for line, name in imported_modules(path.read_text(encoding="utf-8"), package_of(path))
        if name.split(".")[0] == "libp2p"
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import trio\n", True),
        ("import socket as s\n", True),
        ("from asyncio import sleep\n", True),
        ("def f():\n    import subprocess\n", True),
        ("import onnxruntime.capi\n", True),
        ("from libp2p.peer.id import ID\n", True),
        ("from p2pfleet.net import framing\n", True),
        ("from p2pfleet import net\n", True),
        ("from .. import node\n", True),
        ("from ..inference import qmodel\n", True),
        ("import hashlib, sqlite3\n", True),
        ("from . import codec\n", False),
        ("from .errors import DecodeError\n", False),
        ("from p2pfleet.core import codec\n", False),
        ("from p2pfleet.core.errors import DecodeError\n", False),
        ("import hashlib\n", False),
    ],
)
def test_the_core_checker_itself(source: str, bad: bool) -> None:
    names = [name for _, name in imported_modules(source, ["p2pfleet", "core"])]
    assert any(forbidden_in_core(name) for name in names) is bad, names
