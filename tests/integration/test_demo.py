"""The demo path with a small fleet of real node processes: `p2pfleet demo --nodes 3`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_verifies_every_shard_and_names_the_faulty_node(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "p2pfleet",
            "demo",
            "--nodes",
            "3",
            "--shard-size",
            "4",
            "--dir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout[: completed.stdout.rindex("}") + 1])
    assert report["shards_total"] == report["shards_verified"] == 4
    faulty = json.loads((tmp_path / "fleet" / "car-3" / "ready.json").read_text())["peer_id"]
    honest = {
        json.loads((tmp_path / "fleet" / f"car-{i}" / "ready.json").read_text())["peer_id"]
        for i in (1, 2)
    }
    for shard in report["shards"]:
        assert faulty not in shard["agreeing"]
        assert set(shard["agreeing"]) <= honest and len(shard["agreeing"]) == 2
        took_part = any(r["peer"] == faulty for r in shard["replicas"] if r["output_sha256"])
        assert (faulty in shard["dissenting"]) == took_part
    assert set(report["dissenters"]) <= {faulty}
    predictions = {row["input"]: row["top"][0]["label"] for row in report["predictions"]}
    assert predictions["coffee"] == "espresso"
    assert predictions["chelsea"] in ("Egyptian cat", "tabby", "tiger cat")
    assert (tmp_path / "output" / "report.json").is_file()
    assert "stopped all node processes (exit codes [0, 0, 0])" in completed.stderr.replace("\n", "")
