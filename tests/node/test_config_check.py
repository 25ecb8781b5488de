"""`p2pfleet node --check-config`: every key is validated with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.policy import HourWindow
from p2pfleet.node.config import ConfigError, load_node_config
from p2pfleet.node.vehicle import Link, SimulatedVehicleConfig
from p2pfleet.node.vehicle_json import JsonVehicleConfig

REPO = Path(__file__).resolve().parents[2]


def test_example_config_sets_every_policy_key() -> None:
    config = load_node_config(REPO / "examples" / "node.toml")
    policy = config.policy
    assert policy.allowed_hours == (HourWindow.parse("22:00-07:00"),)
    assert policy.timezone == "Europe/Paris"
    assert policy.daily_cellular_data_mb == 200
    assert policy.allowed_data_regions == ("eu-west", "eu-central")
    assert policy.max_temperature_c == 70.0 and policy.thermal_hysteresis_c == 5.0
    assert isinstance(config.vehicle, SimulatedVehicleConfig)
    assert config.vehicle.link is Link.WIFI
    assert config.drain_grace_s == 20 and config.metrics_address == ""


def test_schedule_and_json_adapter(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        "[vehicle]\nschedule = [{ state = 'parked', duration_s = 60 },"
        " { state = 'driving', duration_s = 30 }]\nbattery_kwh = 40\n"
    )
    vehicle = load_node_config(path).vehicle
    assert isinstance(vehicle, SimulatedVehicleConfig)
    assert [leg.state for leg in vehicle.schedule] == [VehicleState.PARKED, VehicleState.DRIVING]
    assert vehicle.battery.capacity_kwh == 40
    path.write_text("[vehicle]\nadapter = 'json'\npath = '/run/car.jsonl'\n")
    assert load_node_config(path).vehicle == JsonVehicleConfig(path="/run/car.jsonl")


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("policy", "allowed_hours = ['7-9']", "[policy] allowed_hours"),
        ("policy", "allowed_hours = '22:00-06:00'", "[policy] allowed_hours"),
        ("policy", "timezone = 'Mars/Olympus'", "[policy] timezone: expected an IANA"),
        ("policy", "daily_cellular_data_mb = -1", "[policy] daily_cellular_data_mb"),
        ("policy", "allowed_data_regions = 'eu'", "[policy] allowed_data_regions"),
        ("policy", "max_temperature_c = 'hot'", "[policy] max_temperature_c"),
        ("policy", "thermal_hysteresis_c = 99", "[policy] thermal_hysteresis_c"),
        ("policy", "cap_hysteresis_pct = 95", "[policy] cap_hysteresis_pct"),
        ("policy", "min_battery_pct = 120", "[policy] min_battery_pct"),
        ("policy", "max_concurrent_tasks = 0", "[policy] max_concurrent_tasks"),
        ("policy", "enabled = 'yes'", "[policy] enabled"),
        ("vehicle", "link = '5g'", "[vehicle] link"),
        ("vehicle", "adapter = 'canbus'", "[vehicle] adapter"),
        ("vehicle", "schedule = [{ state = 'parked' }]", "[vehicle] schedule"),
        ("vehicle", "temperature_c = 'warm'", "[vehicle] temperature_c"),
        ("node", "metrics_address = 'localhost'", "[node] metrics_address"),
        ("node", "control_address = 5", "[node] control_address"),
        ("node", "drain_grace_s = -1", "[node] drain_grace_s"),
        ("node", "worker_memory_mb = 10", "[node] worker_memory_mb"),
    ],
)
def test_each_bad_key_gets_a_message_naming_it(
    tmp_path: Path, table: str, line: str, message: str
) -> None:
    path = tmp_path / "node.toml"
    path.write_text(f"[{table}]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_node_config(path)
    assert message in str(caught.value)


def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        "[policy]\ntimezone = 'Nowhere/Land'\nmax_temperature_c = 'hot'\n[vehicle]\nlink = 'x'\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "p2pfleet", "node", "--config", str(path), "--check-config"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode == 2
    assert "3 problems" in done.stderr
    for key in ("[policy] timezone", "[policy] max_temperature_c", "[vehicle] link"):
        assert key in done.stderr


def test_check_config_describes_the_policy_in_plain_words() -> None:
    example = str(REPO / "examples" / "node.toml")
    done = subprocess.run(
        [sys.executable, "-m", "p2pfleet", "node", "--config", example, "--check-config"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "hours: 22:00-07:00 (Europe/Paris)" in done.stdout
    assert "battery: refuse below 30 %, resume at 35 %" in done.stdout
    assert "cellular data: 200 MB per day" in done.stdout
