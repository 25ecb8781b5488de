"""The explorer service against real in-process nodes (no HTTP, no browser)."""

from __future__ import annotations

from pathlib import Path

import trio

from p2pfleet.explorer.service import ExplorerConfig, open_explorer
from p2pfleet.node.config import NodeConfig
from p2pfleet.node.daemon import open_node

LOOPBACK = ("/ip4/127.0.0.1/tcp/0",)


def test_a_big_fleet_is_polled_in_slices_oldest_first(tmp_path: Path) -> None:
    async def main() -> None:
        a_config = NodeConfig(data_dir=tmp_path / "a", listen=LOOPBACK, region="berlin")
        async with open_node(a_config) as a:
            first = (a.host.listen_addrs()[0],)
            b_config = NodeConfig(
                data_dir=tmp_path / "b", listen=LOOPBACK, region="berlin", bootstrap=first
            )
            c_config = NodeConfig(
                data_dir=tmp_path / "c", listen=LOOPBACK, region="munich", bootstrap=first
            )
            async with open_node(b_config) as b, open_node(c_config) as c:
                config = ExplorerConfig(
                    bootstrap=(first[0], c.host.listen_addrs()[0]),
                    regions=("berlin", "munich"),
                    status_interval_s=3600.0,  # only the first, automatic round
                    status_max_per_round=1,
                )
                async with open_explorer(config) as explorer:
                    with trio.fail_after(60):
                        await explorer.view.wait_for_peers(3)
                        for _ in range(3):
                            await explorer.poll_once()
                    assert {a.peer_id, b.peer_id, c.peer_id} <= set(explorer.statuses)

                    snap = explorer.snapshot()
                    assert explorer.snapshot() is snap  # built once per change
                    assert {r["peer"] for r in snap["peers"]} == {a.peer_id, b.peer_id, c.peer_id}
                    assert set(snap["summary"]["by_region"]) == {"berlin", "munich"}
                    version = snap["version"]
                    with trio.fail_after(30):
                        await explorer.wait_changed()
                    assert explorer.snapshot()["version"] > version

    trio.run(main)
