"""`p2pfleet models build | list | verify` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from p2pfleet.models import CATALOG


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2pfleet", "models", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_build_list_verify_and_detect_corruption(tmp_path: Path) -> None:
    empty = cli("list", "--data-dir", str(tmp_path / "empty"))
    assert empty.returncode == 1 and "models build" in empty.stdout

    built = cli("build", "--json", "--data-dir", str(tmp_path))
    assert built.returncode == 0, built.stderr
    rows = {row["name"]: row for row in json.loads(built.stdout)}
    assert set(rows) == set(CATALOG)
    for name, entry in CATALOG.items():
        row = rows[name]
        assert (row["tier"], row["task"], row["comparator"]) == (
            entry.tier,
            entry.task,
            entry.comparator,
        )
        assert row["license"] == entry.license and row["size"] > 1_000_000
        assert (tmp_path / "models" / f"{row['sha256']}.model").stat().st_size == row["size"]

    verified = cli("verify", "--json", "--data-dir", str(tmp_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checks = {row["name"]: row for row in json.loads(verified.stdout)}
    assert all(row["check"] == "passed" for row in checks.values())
    assert "espresso" in checks["mobilenet_v2-int8"]["detail"]

    table = cli("list", "--data-dir", str(tmp_path))
    assert table.returncode == 0 and "Apache-2.0" in table.stdout and "BSD-3" in table.stdout

    victim = tmp_path / "models" / f"{rows['mobilenet_v2-float']['sha256']}.model"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    broken = cli("verify", "--json", "--data-dir", str(tmp_path))
    assert broken.returncode == 1
    failed = [row for row in json.loads(broken.stdout) if row["check"] == "failed"]
    assert len(failed) == 1 and "corrupted" in failed[0]["detail"]
