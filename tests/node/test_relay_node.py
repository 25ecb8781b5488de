"""A vehicle behind NAT (listening nowhere) advertises a circuit address and does real work."""

from __future__ import annotations

from pathlib import Path

import trio
from PIL import Image

from p2pfleet.inference.images import sample_photos
from p2pfleet.node.daemon import open_node
from p2pfleet.node.network_config import NetworkConfig
from p2pfleet.submit.client import ClientConfig, open_client
from p2pfleet.submit.job import JobSpec
from tests.node.fleet_fixtures import node_config


def test_a_nated_vehicle_is_scheduled_through_its_relay(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, pixels in sample_photos():
        if name in ("coffee", "chelsea"):
            Image.fromarray(pixels).save(photos / f"{name}.png")

    async def main() -> None:
        relay_cfg = node_config(
            tmp_path / "relay", mobilenet_int8, network=NetworkConfig(relay_service=True)
        )
        async with open_node(relay_cfg) as relay:
            relay_addr = relay.host.listen_addrs()[0]
            hidden_cfg = node_config(
                tmp_path / "hidden",
                mobilenet_int8,
                listen=(),
                bootstrap=(relay_addr,),
                network=NetworkConfig(relays=(relay_addr,)),
            )
            async with open_node(hidden_cfg) as hidden:
                assert hidden.host.listen_addrs() == []
                client_cfg = ClientConfig(data_dir=tmp_path / "submitter", bootstrap=(relay_addr,))
                async with open_client(client_cfg) as client:
                    with trio.fail_after(60):
                        while True:  # the advert published after the reservation
                            adverts = await client.peers.wait_for_peers(2)
                            mine = [a for a in adverts if a.peer_id == hidden.peer_id]
                            if mine and mine[0].advert.addrs:
                                break
                            await client.peers.wait_changed()
                    (circuit,) = mine[0].advert.addrs
                    assert circuit == f"{relay_addr}/p2p-circuit"
                    spec = JobSpec(inputs=str(photos), shard_size=2, replicas=2, max_replicas=2)
                    with trio.fail_after(180):
                        result = await client.run_job(spec)
                (record,) = result.records
                assert record.output is not None
                assert hidden.identity.public_key in record.agreeing
                # It committed through the relay; only one agreeing replica uploads (task.md).

    trio.run(main)
