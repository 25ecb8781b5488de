"""`p2pfleet explore` as a user runs it: a separate process joining a live fleet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from p2pfleet.core.advert import VehicleState
from p2pfleet.testing.explorer_fleet import ExplorerFleet, VehicleSpec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExplorerFleet]:
    specs = [VehicleSpec(), VehicleSpec(state=VehicleState.CHARGING), VehicleSpec(region="oslo")]
    with ExplorerFleet(tmp_path_factory.mktemp("fleet"), specs) as running:
        yield running


def explore(*args: str) -> list[str]:
    return [sys.executable, "-m", "p2pfleet", "explore", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def bootstrap_args(fleet: ExplorerFleet) -> list[str]:
    addrs = [node.host.listen_addrs()[0] for node in (fleet.nodes[0], fleet.nodes[2])]
    return [arg for addr in addrs for arg in ("--bootstrap", addr)]


def test_json_once_prints_a_snapshot_of_every_region_and_exits(fleet: ExplorerFleet) -> None:
    done = subprocess.run(
        explore(*bootstrap_args(fleet), "--json", "--once", "--listen-seconds", "5"),
        capture_output=True,
        timeout=180,
        env=env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    snap = json.loads(done.stdout)
    assert {p["peer"] for p in snap["peers"]} == set(fleet.peer_ids)
    assert set(snap["summary"]["by_region"]) == {"local", "oslo"}
    assert snap["explorer"]["regions"] == ["local", "oslo"]
    assert {n["id"] for n in snap["graph"]["nodes"]} >= set(fleet.peer_ids)


def test_once_with_an_unreachable_bootstrap_explains_what_to_check() -> None:
    dead = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
    done = subprocess.run(
        explore("--bootstrap", dead, "--once", "--listen-seconds", "1"),
        capture_output=True,
        timeout=180,
        env=env(),
        check=False,
    )
    assert done.returncode == 1
    assert b"check the --bootstrap address" in done.stderr


def test_bad_listen_address_is_a_usage_error() -> None:
    done = subprocess.run(
        explore("--bootstrap", "/ip4/127.0.0.1/tcp/9", "--listen", "8080"),
        capture_output=True,
        timeout=60,
        env=env(),
        check=False,
    )
    assert done.returncode == 2 and b"HOST:PORT" in done.stderr


def test_the_server_mode_serves_the_page_and_the_api(fleet: ExplorerFleet) -> None:
    process = subprocess.Popen(
        explore(*bootstrap_args(fleet), "--listen", "127.0.0.1:0", "--status-interval", "2"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env(),
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # the first line names the URL
            found = re.search(rb"serving (http://\S+)", line)
            if found:
                url = found.group(1).decode()
                break
        assert url, "the explorer did not say where it serves"
        with urllib.request.urlopen(url + "/", timeout=60) as page:
            assert b"p2pfleet explorer" in page.read()
        with urllib.request.urlopen(url + "/api/summary", timeout=60) as response:
            assert set(json.load(response)) >= {"peers", "by_region", "by_state"}
    finally:
        process.terminate()
        process.wait(30)
