#!/usr/bin/env python3
"""Gossip benchmark: how fast one signed advert reaches every node, 5 vs 20 in-process nodes.

    python tools/bench_gossip.py [--publishes 10] [--sizes 5 20]

Real py-libp2p hosts on 127.0.0.1 (TCP + Noise + Yamux, GossipSub with the
reference GossipConfig, DHT off). Each node dials up to three random earlier
nodes, like vehicles bootstrapping from a few known peers. Measured:

* mesh: seconds from the last connection until every node has a full mesh for
  the region topic (min(D_lo, its connections) mesh peers, D_lo = 4);
* propagation: seconds from `publish` until the last other node received
  the advert, over several publishes from random nodes (median, p95).

Everything runs in one process on a shared machine: the absolute times
include CPU contention (delivery is CPU-bound), the ratios are the result.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from p2pfleet.core.advert import Advert, VehicleState, sign_advert
from p2pfleet.core.identity import Identity
from p2pfleet.core.protocol_ids import advert_topic
from p2pfleet.net.host import FleetHost, HostConfig
from p2pfleet.net.hosts import open_hosts
from p2pfleet.net.logs import configure_logging

TOPIC = advert_topic("bench")
DEGREE_LOW = 4


@dataclass(frozen=True, slots=True)
class Result:
    nodes: int
    mesh_s: float
    median_s: float
    p95_s: float
    publishes: int
    wire_bytes: int


def advert_wire(identity: Identity, seq: int) -> bytes:
    now = int(time.time() * 1000)
    advert = Advert(
        owner=identity.public_key,
        seq=seq,
        issued_at_ms=now,
        ttl_ms=60_000,
        state=VehicleState.CHARGING,
        battery_pct=80,
        departure_ms=now + 3_600_000,
        tier_watts=275,
        free_slots=2,
        energy_left_wh=4000,
        models=tuple(hashlib.sha256(b"%d" % i).digest() for i in range(8)),
        region="bench",
        addrs=("/ip4/203.0.113.77/tcp/40001", "/ip6/2001:db8::77/tcp/40001"),
    )
    return sign_advert(identity, advert).wire


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(count: int, publishes: int, rng: random.Random) -> Result:
    configs = [
        replace(
            HostConfig(seed=rng.randbytes(32)), dht_mode="off", low_watermark=8, min_connections=2
        )
        for _ in range(count)
    ]
    async with open_hosts(configs) as hosts:
        for index, host in enumerate(hosts[1:], start=1):
            for peer in rng.sample(hosts[:index], min(3, index)):
                await host.connect(peer.listen_addrs()[0])
        received: dict[int, dict[str, float]] = {}
        arrived = trio.Event()

        async def listen(host: FleetHost, task_status: trio.TaskStatus[None]) -> None:
            async with host.subscribe(TOPIC, include_own=False) as messages:
                task_status.started()
                async for message in messages:
                    seq = int.from_bytes(message.data[-8:], "big")
                    received.setdefault(seq, {})[host.peer_id] = trio.current_time()
                    if len(received[seq]) == count - 1:
                        arrived.set()

        async with trio.open_nursery() as nursery:
            for host in hosts:
                await nursery.start(listen, host)
            started = trio.current_time()

            def meshed(host: FleetHost) -> bool:
                want = min(DEGREE_LOW, len(host.connected_peers()))
                return len(host.gossip_peers(TOPIC)) >= want

            while not all(meshed(h) for h in hosts):  # noqa: ASYNC110
                await trio.sleep(0.02)
            mesh_s = trio.current_time() - started

            times = []
            for seq in range(publishes):
                publisher = rng.choice(hosts)
                arrived = trio.Event()
                # the last 8 bytes name the publish; the advert is real and signed
                wire = advert_wire(Identity(rng.randbytes(32)), seq) + seq.to_bytes(8, "big")
                sent = trio.current_time()
                await publisher.publish(TOPIC, wire)
                with trio.fail_after(60):
                    while len(received.get(seq, {})) < count - 1:
                        with trio.move_on_after(0.05):
                            await arrived.wait()
                times.append(max(received[seq].values()) - sent)
                await trio.sleep(0.2)  # let duplicates and IHAVE/IWANT traffic settle
            nursery.cancel_scope.cancel()
    return Result(
        count,
        mesh_s,
        statistics.median(times),
        percentile(times, 0.95),
        publishes,
        len(wire) - 8,
    )


async def main_async(sizes: list[int], publishes: int, seed: int) -> list[Result]:
    rng = random.Random(seed)
    return [await run(count, publishes, rng) for count in sizes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--publishes", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    configure_logging(logging.WARNING, libp2p_level=logging.CRITICAL)
    results = trio.run(main_async, args.sizes, args.publishes, args.seed)
    base = results[0]
    print(f"advert on the wire: {base.wire_bytes} bytes; {base.publishes} publishes per size")
    print(f"{'nodes':>5} {'mesh s':>8} {'median s':>9} {'p95 s':>8} {'median ratio':>13}")
    for result in results:
        ratio = result.median_s / base.median_s if base.median_s else float("nan")
        print(
            f"{result.nodes:>5} {result.mesh_s:>8.3f} {result.median_s:>9.3f} "
            f"{result.p95_s:>8.3f} {ratio:>12.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
