"""Write docs/explorer.png: the explorer page over a live fleet, in headless Chromium.

Starts six in-process nodes in two regions (real py-libp2p), runs a real
verified MobileNetV2 job on the berlin nodes so "recent jobs" has content,
sends one vehicle driving, waits for the capacity chart to gather samples and
saves a screenshot.

    PYTHONPATH=. python tools/screenshot_explorer.py [--out docs/explorer.png]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.explorer.service import ExplorerConfig
from p2pfleet.inference.runtime import build_mobilenet_v2_int8
from p2pfleet.net.logs import configure_logging
from p2pfleet.submit.client import ClientConfig, open_client
from p2pfleet.submit.job import JobSpec
from p2pfleet.testing.browser import open_chromium
from p2pfleet.testing.explorer_fleet import ExplorerFleet, VehicleSpec

ROOT = Path(__file__).resolve().parent.parent
SPECS = [
    VehicleSpec(region="berlin", battery_pct=84),
    VehicleSpec(region="berlin", state=VehicleState.CHARGING, battery_pct=46, tier_watts=500),
    VehicleSpec(region="berlin", battery_pct=71, parked_for_s=40 * 60),
    VehicleSpec(region="munich", battery_pct=93, tier_watts=800, parked_for_s=9 * 3600),
    VehicleSpec(region="munich", state=VehicleState.CHARGING, battery_pct=18),
    VehicleSpec(region="munich", battery_pct=62),
]


async def run_job(bootstrap: str, directory: Path) -> int:
    config = ClientConfig(data_dir=directory, bootstrap=(bootstrap,), regions=("berlin",))
    async with open_client(config) as client:
        with trio.fail_after(60):
            await client.peers.wait_for_peers(3)
        spec = JobSpec(shard_size=2, replicas=2, output_dir=directory / "out")
        with trio.fail_after(300):
            result = await client.run_job(spec)
    return len(result.records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "explorer.png")
    parser.add_argument("--history-seconds", type=float, default=25.0)
    args = parser.parse_args()
    configure_logging(logging.ERROR, libp2p_level=logging.CRITICAL)
    model = build_mobilenet_v2_int8()
    explorer = ExplorerConfig(
        bootstrap=(), status_interval_s=2.0, history_interval_s=1.0, refresh_s=1.0
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with ExplorerFleet(base / "fleet", SPECS, model=model, explorer=explorer) as fleet:
            shards = fleet.run(run_job, fleet.nodes[0].host.listen_addrs()[0], base / "submitter")
            print(f"ran a verified job of {shards} shards on the berlin nodes")
            with open_chromium(base / "chromium", width=1440, height=1500) as browser:
                browser.get(fleet.url + "/")
                time.sleep(args.history_seconds / 2)
                fleet.set_state(2, VehicleState.DRIVING)  # one car leaves: capacity drops
                time.sleep(args.history_seconds / 2)
                height = browser.execute_script("return document.body.scrollHeight")
                browser.set_window_size(1440, int(height) + 160)  # + the window frame
                time.sleep(1.5)  # one more snapshot at the final size
                args.out.parent.mkdir(parents=True, exist_ok=True)
                browser.save_screenshot(str(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
