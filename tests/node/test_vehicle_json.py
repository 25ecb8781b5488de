"""The JSON vehicle adapter: line validation, following a file, and a stream like stdin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing

from p2pfleet.core.advert import VehicleState
from p2pfleet.node.vehicle import Link
from p2pfleet.node.vehicle_json import (
    JsonVehicle,
    JsonVehicleConfig,
    VehicleLineError,
    parse_vehicle_line,
)


def test_a_full_line_parses() -> None:
    line = json.dumps(
        {
            "state": "charging",
            "battery_pct": 72.5,
            "plugged_in": True,
            "link": "cellular",
            "temperature_c": 31.5,
            "departure": 1764003600,
        }
    )
    status = parse_vehicle_line(line)
    assert status.state is VehicleState.CHARGING
    assert status.battery_pct == 72 and status.plugged_in
    assert status.link is Link.CELLULAR and status.temperature_c == 31.5
    assert status.departure_ms == 1764003600_000


def test_defaults_for_optional_keys() -> None:
    status = parse_vehicle_line(b'{"state": "charging", "battery_pct": 40}')
    assert status.plugged_in  # charging implies plugged in
    assert status.link is Link.NONE and status.temperature_c is None and status.departure_ms is None
    parked = parse_vehicle_line(b'{"state": "parked", "battery_pct": 40}')
    assert not parked.plugged_in


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"battery_pct": 50}', "missing required key 'state'"),
        (b'{"state": "flying", "battery_pct": 50}', "state must be one of"),
        (b'{"state": "parked", "battery_pct": 101}', "battery_pct must be a number 0..100"),
        (b'{"state": "parked", "battery_pct": true}', "battery_pct"),
        (b'{"state": "parked", "battery_pct": 50, "plugged_in": "yes"}', "plugged_in"),
        (b'{"state": "parked", "battery_pct": 50, "link": "5g"}', "link must be one of"),
        (b'{"state": "parked", "battery_pct": 50, "temperature_c": "hot"}', "temperature_c"),
        (b'{"state": "parked", "battery_pct": 50, "departure": -1}', "departure"),
        (b'{"state": "parked", "battery_pct": 50, "speed": 3}', "unknown key(s) speed"),
        (b'{"state": "parked", "battery_pct": NaN}', "battery_pct"),
        (b"{" + b" " * 5000 + b"}", "limit is 4096"),
    ],
)
def test_bad_lines_are_refused_with_a_clear_reason(line: bytes, message: str) -> None:
    with pytest.raises(VehicleLineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_vehicle_line(line)


def test_follows_a_growing_file_skips_bad_lines_and_survives_truncation(tmp_path: Path) -> None:
    path = tmp_path / "vehicle.jsonl"
    path.write_text("")
    vehicle = JsonVehicle(JsonVehicleConfig(path=str(path)))

    def append(text: str) -> None:
        with path.open("a") as handle:
            handle.write(text)

    async def main() -> None:
        assert vehicle.status.state is VehicleState.OFFLINE  # unknown until the first line
        async with trio.open_nursery() as nursery:
            await nursery.start(vehicle.run)
            with trio.fail_after(30):
                append('{"state": "parked", "battery_pct": 60, "link": "wifi"}\n')
                status = await vehicle.wait_changed()
                assert status.state is VehicleState.PARKED and status.battery_pct == 60

                append('{"state": "parked", "battery_pct": "lots"}\n')  # skipped
                append('{"state": "driving", "battery_pct": 59}\n')
                status = await vehicle.wait_changed()
                assert status.state is VehicleState.DRIVING
                assert vehicle.bad_lines == 1

                path.write_text('{"state": "charging", "battery_pct": 20}\n')  # truncated
                status = await vehicle.wait_changed()
                assert status.state is VehicleState.CHARGING and status.plugged_in

                replacement = tmp_path / "next.jsonl"  # replaced (log rotation)
                replacement.write_text('{"state": "parked", "battery_pct": 21}\n')
                replacement.replace(path)
                status = await vehicle.wait_changed()
                assert status.state is VehicleState.PARKED and status.battery_pct == 21
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_reads_a_stream_like_stdin_with_split_lines() -> None:
    vehicle = JsonVehicle(JsonVehicleConfig())

    async def main() -> None:
        send, receive = trio.testing.memory_stream_one_way_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(vehicle._follow_stream, receive)
            with trio.fail_after(30):
                await send.send_all(b'{"state": "parked", "batt')
                await send.send_all(b'ery_pct": 55, "link": "cellular"}\n')
                status = await vehicle.wait_changed()
                assert status.battery_pct == 55 and status.link is Link.CELLULAR
                await send.send_all(b"garbage\n" + b'{"state": "driving", "battery_pct": 54}\n')
                status = await vehicle.wait_changed()
                assert status.state is VehicleState.DRIVING and vehicle.bad_lines == 1
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_a_node_follows_the_car_through_the_json_adapter(
    tmp_path: Path, mobilenet_int8: bytes
) -> None:
    from p2pfleet.node.daemon import open_node
    from tests.node.fleet_fixtures import node_config

    feed = tmp_path / "vehicle.jsonl"
    feed.write_text("")
    config = node_config(
        tmp_path / "car", mobilenet_int8, vehicle=JsonVehicleConfig(path=str(feed))
    )

    async def main() -> None:
        async with open_node(config) as node:
            assert node.status().refusal == "policy-disabled"  # offline until the car speaks
            assert node.current_advert().free_slots == 0
            with trio.fail_after(30):
                feed.write_text('{"state": "parked", "battery_pct": 64, "link": "cellular"}\n')
                await node.vehicle.wait_changed()
                status = node.status()
                assert status.state == "parked" and status.battery_pct == 64
                assert status.link == "cellular" and status.accepting
                assert node.current_advert().free_slots == 1
                with feed.open("a") as handle:
                    handle.write('{"state": "driving", "battery_pct": 63}\n')
                await node.vehicle.wait_changed()
                assert node.status().refusal == "driving"

    trio.run(main)
