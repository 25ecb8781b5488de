"""The demo path with a small fleet of real node processes: `p2pfleet demo --nodes 3`.

One verified job per built-in model: int8 MobileNetV2 (exact tier), float
MobileNetV2 and MiniLM-L6 (tolerant tier); the third node lies on all three.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_verifies_every_model_and_names_the_faulty_node(tmp_path: Path) -> None:
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
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    demo = json.loads(completed.stdout[: completed.stdout.rindex("}") + 1])
    assert demo["ok"] is True
    jobs = {job["model_name"]: job for job in demo["jobs"]}
    assert set(jobs) == {"mobilenet_v2-int8", "mobilenet_v2-float", "minilm-l6-embed"}
    assert [(j["tier"], j["comparator"]) for j in jobs.values()] == [
        ("exact", "exact"),
        ("tolerant", "classification"),
        ("tolerant", "embeddings"),
    ]
    report = jobs["mobilenet_v2-int8"]
    assert report["shards_total"] == report["shards_verified"] == 4
    faulty = json.loads((tmp_path / "fleet" / "car-3" / "ready.json").read_text())["peer_id"]
    honest = {
        json.loads((tmp_path / "fleet" / f"car-{i}" / "ready.json").read_text())["peer_id"]
        for i in (1, 2)
    }
    for job in jobs.values():
        assert job["shards_total"] == job["shards_verified"] > 0
        for shard in job["shards"]:
            assert faulty not in shard["agreeing"]
            assert set(shard["agreeing"]) <= honest
            # two agreeing votes, or a dispute settled by the submitter's own run
            assert len(shard["agreeing"]) == 2 or shard["settled_locally"]
            assert shard["settled_locally"] == (shard["shard"] in job["shards_recomputed_locally"])
            took_part = any(r["peer"] == faulty for r in shard["replicas"] if r["output_sha256"])
            assert (faulty in shard["dissenting"]) == took_part
        assert set(job["dissenters"]) <= {faulty}
        assert (tmp_path / "output" / job["model_name"] / "report.json").is_file()
    for name in ("mobilenet_v2-int8", "mobilenet_v2-float"):
        predictions = {row["input"]: row["top"][0]["label"] for row in jobs[name]["predictions"]}
        assert predictions["coffee"] == "espresso"
        assert predictions["chelsea"] in ("Egyptian cat", "tabby", "tiger cat")
    embedded = {row["input"]: row for row in jobs["minilm-l6-embed"]["predictions"]}
    assert len(embedded) == 24 and {row["dims"] for row in embedded.values()} == {384}
    # the two tyre sentences (lines 5 and 6 of the bundled file) are each other's nearest
    assert embedded["sentence-004"]["nearest"]["input"] == "sentence-005"
    assert "stopped all node processes (exit codes [0, 0, 0])" in completed.stderr.replace("\n", "")
