"""The explorer page in a real headless Chromium, over a live fleet of real nodes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from p2pfleet.core.advert import VehicleState
from p2pfleet.testing.browser import open_chromium
from p2pfleet.testing.explorer_fleet import ExplorerFleet, VehicleSpec

WAIT_S = 60.0  # generous: two cores shared with other test runs
SPECS = [
    VehicleSpec(region="berlin"),
    VehicleSpec(region="berlin", state=VehicleState.CHARGING, battery_pct=55, tier_watts=500),
    VehicleSpec(region="munich"),
    VehicleSpec(region="munich", battery_pct=92),
]


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, mobilenet_int8: bytes
) -> Iterator[ExplorerFleet]:
    with ExplorerFleet(tmp_path_factory.mktemp("fleet"), SPECS, model=mobilenet_int8) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with open_chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        driver.set_page_load_timeout(WAIT_S)
        yield driver


def wait_until(browser: Any, condition: Callable[[Any], Any], what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out after {WAIT_S:.0f} s waiting for {what}") from None


def row_states(browser: Any) -> dict[str, str]:
    """peer id -> state shown in the peer table."""
    states: dict[str, str] = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#peers tbody tr')]"
        ".map(tr => [tr.dataset.peer, tr.querySelector('.state').textContent]))"
    )
    return states


def open_page(browser: Any, fleet: ExplorerFleet) -> None:
    browser.get(fleet.url + "/")
    wait_until(
        browser,
        lambda b: set(fleet.peer_ids) <= set(row_states(b)),
        "all four nodes in the peer table",
    )


def test_the_page_shows_every_node_of_the_live_fleet(browser: Any, fleet: ExplorerFleet) -> None:
    open_page(browser, fleet)
    assert browser.find_element("id", "empty").get_attribute("hidden") is not None
    assert browser.find_element("id", "live").text == "live"
    states = row_states(browser)
    assert states[fleet.peer_ids[1]] == "charging"
    assert int(browser.find_element("id", "sum-peers").text) == 4
    regions = {
        tr.get_attribute("data-group")
        for tr in browser.find_elements("css selector", "#by-region tbody tr")
    }
    assert regions == {"berlin", "munich"}
    # connection graph: every node drawn, with edges from the nodes' signed statuses
    wait_until(
        browser,
        lambda b: (
            set(fleet.peer_ids)
            <= {
                g.get_attribute("data-peer")
                for g in b.find_elements("css selector", "#graph .gnode")
            }
            and b.find_elements("css selector", "#graph line.edge")
        ),
        "the connection graph",
    )
    # the cached model shows up in the table
    model_cells = browser.find_elements("css selector", "#peers tbody td.mono.small")
    assert all(cell.text != "none" for cell in model_cells)


def test_a_node_that_starts_driving_changes_on_the_page_without_a_reload(
    browser: Any, fleet: ExplorerFleet
) -> None:
    open_page(browser, fleet)
    browser.execute_script("window.__sameDocument = true")
    driver_peer = fleet.peer_ids[3]
    assert row_states(browser)[driver_peer] == "parked"
    fleet.set_state(3, VehicleState.DRIVING)
    wait_until(browser, lambda b: row_states(b)[driver_peer] == "driving", "the driving state")
    assert browser.execute_script("return window.__sameDocument") is True  # no reload happened
    wait_until(browser, lambda b: b.find_element("id", "sum-driving").text == "1", "driving count")
    fleet.set_state(3, VehicleState.PARKED)
    wait_until(browser, lambda b: row_states(b)[driver_peer] == "parked", "parked again")


def test_the_filter_and_search_narrow_the_peer_table(browser: Any, fleet: ExplorerFleet) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, fleet)
    search = browser.find_element("id", "search")
    search.clear()
    search.send_keys(fleet.peer_ids[2][-8:])
    wait_until(browser, lambda b: list(row_states(b)) == [fleet.peer_ids[2]], "search result")
    search.clear()
    search.send_keys("no-such-peer")
    wait_until(browser, lambda b: not row_states(b), "no match")
    assert browser.find_element("id", "no-match").is_displayed()
    search.clear()
    browser.execute_script("document.getElementById('search').dispatchEvent(new Event('input'))")
    Select(browser.find_element("id", "region-filter")).select_by_value("munich")
    wait_until(
        browser, lambda b: set(row_states(b)) == set(fleet.peer_ids[2:]), "munich nodes only"
    )
    Select(browser.find_element("id", "region-filter")).select_by_value("")
    Select(browser.find_element("id", "state-filter")).select_by_value("charging")
    wait_until(browser, lambda b: list(row_states(b)) == [fleet.peer_ids[1]], "charging only")
    assert "(1 of 4)" in browser.find_element("id", "peer-count").text
    Select(browser.find_element("id", "state-filter")).select_by_value("")


CAPACITY = {"peers": int, "available": int, "free_slots": int, "available_watts": int}
PEER = {
    "peer": str,
    "owner": str,
    "state": str,
    "battery_pct": int,
    "charging": bool,
    "departure_in_s": (int, type(None)),
    "tier_watts": int,
    "free_slots": int,
    "available": bool,
    "energy_left_wh": int,
    "region": str,
    "attested": bool,
    "models": list,
    "addrs": list,
    "seq": int,
    "age_s": (int, float),
    "expires_in_s": (int, float),
}
SAMPLE = {
    "t_ms": int,
    "peers": int,
    "available": int,
    "free_slots": int,
    "available_watts": int,
    "driving": int,
}


def check(document: Any, schema: dict[str, Any], where: str) -> None:
    assert isinstance(document, dict), f"{where} is not an object"
    assert set(document) == set(schema), f"{where} keys {sorted(document)} != {sorted(schema)}"
    for key, kind in schema.items():
        assert isinstance(document[key], kind), f"{where}.{key} = {document[key]!r} is not {kind}"


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=WAIT_S) as response:
        assert response.headers["content-type"] == "application/json"
        return json.load(response)


def test_the_json_api_matches_its_schema(fleet: ExplorerFleet) -> None:
    peers = get_json(fleet.url + "/api/peers")
    assert isinstance(peers, list) and {p["peer"] for p in peers} >= set(fleet.peer_ids)
    for index, peer in enumerate(peers):
        check(peer, PEER, f"peers[{index}]")
        assert peer["state"] in {"parked", "charging", "driving", "offline"}
        assert 0 <= peer["battery_pct"] <= 100
        assert all(isinstance(m, str) and len(m) == 64 for m in peer["models"])

    summary = get_json(fleet.url + "/api/summary")
    check(summary, {**CAPACITY, "by_region": dict, "by_state": dict}, "summary")
    assert set(summary["by_state"]) == {"parked", "charging", "driving", "offline"}
    for name, group in [*summary["by_region"].items(), *summary["by_state"].items()]:
        check(group, CAPACITY, f"summary group {name}")
    assert summary["peers"] == sum(g["peers"] for g in summary["by_region"].values())

    history = get_json(fleet.url + "/api/history")
    check(history, {"interval_s": float, "samples": list}, "history")
    assert history["samples"], "the explorer samples capacity from the start"
    for index, sample in enumerate(history["samples"]):
        check(sample, SAMPLE, f"history.samples[{index}]")
    times = [s["t_ms"] for s in history["samples"]]
    assert times == sorted(times)


async def run_small_job(bootstrap: str, directory: Path) -> bytes:
    import trio

    from p2pfleet.submit.client import ClientConfig, open_client
    from p2pfleet.submit.job import JobSpec

    config = ClientConfig(data_dir=directory, bootstrap=(bootstrap,), regions=("berlin",))
    async with open_client(config) as client:
        with trio.fail_after(WAIT_S):
            await client.peers.wait_for_peers(2)
        spec = JobSpec(shard_size=8, replicas=2, max_replicas=2, output_dir=directory / "out")
        with trio.fail_after(300):
            result = await client.run_job(spec)
    return result.plan.job_id


def test_a_job_run_on_the_fleet_appears_in_recent_jobs(
    browser: Any, fleet: ExplorerFleet, tmp_path: Path
) -> None:
    open_page(browser, fleet)
    job_id = fleet.run(run_small_job, fleet.nodes[0].host.listen_addrs()[0], tmp_path)
    wait_until(
        browser,
        lambda b: b.find_elements("css selector", f'#jobs tbody tr[data-job="{job_id.hex()}"]'),
        "the job in the recent jobs table",
    )
    row = browser.find_element("css selector", f'#jobs tbody tr[data-job="{job_id.hex()}"]')
    done, assigned = (int(n) for n in row.find_elements("tag name", "td")[2].text.split(" / "))
    assert done == assigned >= 2  # every shard on two berlin nodes
    assert not browser.find_element("id", "no-jobs").is_displayed()


def test_with_no_reachable_peer_the_page_explains_what_to_check(
    browser: Any, tmp_path: Path
) -> None:
    from p2pfleet.explorer.service import ExplorerConfig

    dead = "/ip4/127.0.0.1/tcp/9/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
    config = ExplorerConfig(bootstrap=(dead,), regions=("oslo",), refresh_s=0.5)
    with ExplorerFleet(tmp_path, [], explorer=config) as alone:
        browser.get(alone.url + "/")
        wait_until(browser, lambda b: b.find_element("id", "empty").is_displayed(), "empty state")
        text = browser.find_element("id", "empty").text
        assert "No peers reachable yet" in text
        assert dead in text and "oslo" in text and "Firewall" in text
        assert browser.find_element("id", "empty-connected").text == "0"
        assert not row_states(browser)
