"""How long does a state change take to reach the explorer page?

Starts four in-process nodes (real py-libp2p) plus the explorer, opens the page
in headless Chromium, then repeatedly sends one vehicle driving and measures,
side by side in one run:

* drive -> advert accepted by the explorer (gossip path), and
* drive -> the peer table row shows "driving" in the DOM (gossip + SSE + render),

using the machine's one wall clock (Python's time.time and the page's Date.now).

    PYTHONPATH=. python tools/bench_explorer.py [--trials 10]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.net.logs import configure_logging
from p2pfleet.testing.browser import open_chromium
from p2pfleet.testing.explorer_fleet import ExplorerFleet, VehicleSpec

WATCH_JS = """
window.__target = arguments[0]; window.__want = arguments[1]; window.__seenAt = null;
if (!window.__observer) {
  window.__observer = new MutationObserver(() => {
    if (window.__seenAt !== null) return;
    const row = document.querySelector('#peers tbody tr[data-peer="' + window.__target + '"]');
    if (row && row.dataset.state === window.__want) window.__seenAt = Date.now();
  });
  window.__observer.observe(document.getElementById('peers'), {childList: true, subtree: true});
}
"""


async def drive_and_wait_for_advert(
    fleet: ExplorerFleet, index: int, state: VehicleState
) -> tuple[float, float]:
    """Set the state; return (t_set, t_advert_accepted) in unix ms."""
    assert fleet.explorer is not None
    view = fleet.explorer.view
    peer = fleet.peer_ids[index]
    t_set = time.time() * 1000
    fleet.nodes[index].vehicle.set_state(state)
    with trio.fail_after(60):
        while not any(s.peer_id == peer and s.advert.state is state for s in view.live()):
            await view.wait_changed()
    return t_set, time.time() * 1000


def trial(
    fleet: ExplorerFleet, browser: Any, index: int, state: VehicleState
) -> tuple[float, float]:
    browser.execute_script(WATCH_JS, fleet.peer_ids[index], state.value)
    t_set, t_advert = fleet.run(drive_and_wait_for_advert, fleet, index, state)
    deadline = time.time() + 60
    seen = None
    while seen is None and time.time() < deadline:
        seen = browser.execute_script("return window.__seenAt")
        if seen is None:
            time.sleep(0.01)
    if seen is None:
        raise SystemExit("the page did not show the change within 60 s")
    return t_advert - t_set, float(seen) - t_set


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return (
        f"{name:<34} median {statistics.median(values):7.1f} ms   p90 {p90:7.1f} ms   "
        f"max {max(values):7.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    configure_logging(logging.ERROR, libp2p_level=logging.CRITICAL)
    specs = [VehicleSpec(region="berlin")] * 2 + [VehicleSpec(region="munich")] * 2
    advert_ms: list[float] = []
    dom_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with (
            ExplorerFleet(base / "fleet", specs) as fleet,
            open_chromium(base / "chromium") as browser,
        ):
            browser.get(fleet.url + "/")
            deadline = time.time() + 60
            while time.time() < deadline and browser.execute_script(
                "return document.querySelectorAll('#peers tbody tr').length"
            ) < len(specs):
                time.sleep(0.1)
            for n in range(args.trials):
                index = n % len(specs)
                time.sleep(0.5)  # let the last push age past the SSE coalescing interval (0.1 s)
                gossip, dom = trial(fleet, browser, index, VehicleState.DRIVING)
                advert_ms.append(gossip)
                dom_ms.append(dom)
                trial(fleet, browser, index, VehicleState.PARKED)  # back, not measured
    print(f"{args.trials} trials, 4 in-process nodes, 2 regions, headless Chromium")
    print(summary("drive -> advert at the explorer", advert_ms))
    print(summary("drive -> DOM shows 'driving'", dom_ms))
    print(
        f"page overhead (DOM / advert, medians): "
        f"{statistics.median(dom_ms) / max(statistics.median(advert_ms), 0.001):.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
