"""`kill -9` the submitter mid-job; `--resume` finishes it without redoing verified shards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import trio

from p2pfleet.submit.client import open_client
from p2pfleet.submit.job import load_job_spec
from p2pfleet.submit.report import write_outputs
from p2pfleet.testing.faults import SlowExecutor
from tests.node.fleet_fixtures import open_fleet

from .helpers import QUIET, client_config, share_cpu, write_photos


def verified_shards(journal: Path) -> tuple[str | None, set[int]]:
    if not journal.exists():
        return None, set()
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT job_id FROM jobs").fetchone()
            done = db.execute("SELECT idx FROM shards WHERE status = 'verified'").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return None, set()
    return (row[0] if row else None), {r[0] for r in done}


def submit_command(job: Path, data_dir: Path, bootstrap: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "p2pfleet", "submit", *extra, "--bootstrap", bootstrap,
        "--data-dir", str(data_dir), "--wait-nodes", "3", "--json", "-q",
    ]  # fmt: skip


def test_kill_9_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    photos = write_photos(tmp_path / "photos")  # 8 images, one shard each
    job = tmp_path / "job.toml"
    job.write_text(
        "[job]\n"
        f'inputs = "{photos}"\n'
        "shard_size = 1\n"
        'output_dir = "out-resumed"\n'
        "max_node_share = 1.0\n"
        "[verification]\n"
        'policy = "exact-unanimous"\n'
        "replicas = 2\n"
        "max_replicas = 3\n"
    )
    data_dir = tmp_path / "submitter-cli"
    journal = data_dir / "journal.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    async def main() -> None:
        async with open_fleet(tmp_path / "fleet", mobilenet_int8, 3, **QUIET) as nodes:
            share_cpu(nodes, 2)
            for node in nodes:
                node.tasks._executor = SlowExecutor(node.tasks._executor, 1.0)
            bootstrap = nodes[0].host.listen_addrs()[0]
            log = (tmp_path / "first.log").open("wb")
            first = await trio.lowlevel.open_process(
                [*submit_command(job, data_dir, bootstrap), str(job)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            job_id: str | None = None
            done: set[int] = set()
            with trio.fail_after(300):
                while len(done) < 2:  # another process: poll its journal
                    assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                    await trio.sleep(0.2)
                    job_id, done = verified_shards(journal)
            first.send_signal(signal.SIGKILL)
            await first.wait()
            killed_at = time.time()
            assert job_id is not None
            job_id, done_before = verified_shards(journal)
            assert 2 <= len(done_before) < 8, "kill -9 landed mid-job"

            resumed = await trio.run_process(
                submit_command(job, data_dir, bootstrap, "--resume", str(job_id)),
                capture_stdout=True, capture_stderr=True, env=env, check=False,
            )  # fmt: skip
            assert resumed.returncode == 0, resumed.stderr.decode()[-3000:]
            with sqlite3.connect(journal) as db:
                redone = db.execute(
                    "SELECT DISTINCT idx FROM assignments WHERE placed_at > ?", (killed_at,)
                ).fetchall()
            assert not {r[0] for r in redone} & done_before, "a verified shard ran again"

            spec = load_job_spec(job)
            async with open_client(client_config(tmp_path, nodes)) as client:
                with trio.fail_after(60):
                    await client.wait_for_nodes(3)
                with trio.fail_after(600):
                    result = await client.run_job(spec)
            write_outputs(result, tmp_path / "out-uninterrupted")

        resumed_dir, fresh_dir = tmp_path / "out-resumed", tmp_path / "out-uninterrupted"
        names = sorted(p.name for p in (fresh_dir / "shards").iterdir())
        assert len(names) == 8
        assert names == sorted(p.name for p in (resumed_dir / "shards").iterdir())
        for name in names:
            assert (resumed_dir / "shards" / name).read_bytes() == (
                fresh_dir / "shards" / name
            ).read_bytes()
        assert (resumed_dir / "predictions.json").read_bytes() == (
            fresh_dir / "predictions.json"
        ).read_bytes()

    trio.run(main)
