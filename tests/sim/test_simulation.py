"""Whole simulated runs: determinism, placement rules, verification outcomes, bookkeeping."""

from __future__ import annotations

import math
from collections import defaultdict

from p2pfleet.core.advert import VehicleState
from p2pfleet.core.policy import within_hours
from p2pfleet.sim import SimConfig, Simulation, run_simulation
from p2pfleet.sim.fleet import SimVehicle
from p2pfleet.sim.work import Run, SimShard
from tests.sim.conftest import small_config


def test_same_seed_same_run_and_another_seed_differs(small: SimConfig) -> None:
    first = run_simulation(small)
    assert run_simulation(small) == first
    assert run_simulation(small_config(seed=8)) != first


def test_replicas_of_a_shard_go_to_distinct_owners_inside_the_jobs_regions() -> None:
    sim = Simulation(small_config(residency=0.7, byzantine=0.2))
    placed: defaultdict[int, list[SimVehicle]] = defaultdict(list)
    shards: dict[int, SimShard] = {}

    def record(shard: SimShard, vehicle: SimVehicle) -> None:
        placed[id(shard)].append(vehicle)
        shards[id(shard)] = shard

    sim.submitter.on_assign = record
    report = sim.run()
    assert report.shards_completed == report.shards
    restricted = 0
    for key, vehicles in placed.items():
        owners = [v.owner for v in vehicles]
        assert len(owners) == len(set(owners)), "two replicas of one shard on one owner"
        regions = shards[key].job.needs.regions
        if regions:
            restricted += 1
            assert all(v.region in regions for v in vehicles)
    assert restricted > 0


def test_nodes_run_work_only_when_their_owner_policy_allows() -> None:
    sim = Simulation(small_config(churn=0.3))
    started: list[tuple[Run, VehicleState, int]] = []

    def record(run: Run) -> None:
        v = run.vehicle
        minute = int((sim.clock.now + v.utc_offset_s) % 86_400) // 60
        started.append((run, v.state, minute))
        assert v.energy_today_wh < v.policy.daily_energy_budget_wh
        assert len(v.running) <= v.policy.max_concurrent_tasks
        assert not v.policy.only_when_plugged_in or v.plugged_in

    sim.submitter.on_start = record
    sim.run()
    assert started
    for run, state, minute in started:
        assert state in (VehicleState.PARKED, VehicleState.CHARGING)
        assert within_hours(run.vehicle.policy, minute)


def test_without_byzantine_nodes_nothing_is_disputed() -> None:
    report = run_simulation(small_config(byzantine=0.0, churn=0.3))
    assert report.shards_completed == report.shards
    assert report.wrong_accepted == report.disputed == report.recomputed == 0
    assert report.cheaters_caught == report.honest_penalised == 0


def test_colluding_liars_never_win_a_six_replica_quorum_in_a_small_run() -> None:
    report = run_simulation(small_config(byzantine=0.1, behaviour="colluding"))
    assert report.replicas == 6 and report.byzantine_vehicles == 60
    assert report.shards_completed == report.shards
    assert report.disputed > 0  # the liars were there and were outvoted
    assert report.wrong_accepted == 0
    assert report.cheaters_caught > 0 and report.honest_penalised == 0


def test_a_two_replica_quorum_lets_colluders_through_at_high_f() -> None:
    report = run_simulation(small_config(byzantine=0.4, replicas=2, max_replicas=2, shards=400))
    assert report.wrong_accepted > 0  # f**2 = 0.16: the simulator does not hide it


def test_settling_disputes_locally_keeps_colluders_out_where_escalation_lets_them_in() -> None:
    # Escalation accepts the first group of k among up to max_replicas votes, so
    # colluders win more often than f**k; a local run settles every dispute.
    changes = {"byzantine": 0.4, "replicas": 3, "max_replicas": 6, "shards": 400}
    escalated = run_simulation(small_config(on_dispute="escalate", **changes))
    settled = run_simulation(small_config(on_dispute="recompute", **changes))
    assert settled.recomputed == settled.disputed > 0
    assert escalated.wrong_accepted > 2 * settled.wrong_accepted


def test_the_counts_add_up() -> None:
    sim = Simulation(small_config(policy="adaptive", behaviour="mixed", byzantine=0.2, churn=0.3))
    report = sim.run()
    tally = sim.submitter.tally
    assert report.jobs_completed == report.jobs == 6
    assert report.shards_completed == report.shards == 300
    assert report.canaries == 6 * math.ceil(0.05 * 50)
    ended = tally.votes + tally.abandoned + tally.dropped + tally.refused + tally.cancelled
    assert ended == tally.assignments  # every placement ended exactly one way
    assert all(not v.running for v in sim.vehicles)
    assert report.replica_runs == sum(v.runs for v in sim.vehicles)
    assert math.isclose(report.energy_wh_total, sum(v.energy_total_wh for v in sim.vehicles))
    assert math.isclose(report.energy_wh_per_vehicle * report.vehicles, report.energy_wh_total)
    assert report.overhead_pct == 100 * (report.replica_runs - 300) / 300
    assert report.cheaters_caught + report.honest_penalised == len(tally.caught)
    assert report.abandoned > 0 and report.reassignments > 0
    assert report.wrong_rate == report.wrong_accepted / 300


def test_adaptive_policy_trusts_checks_and_catches() -> None:
    report = run_simulation(
        small_config(
            vehicles=150, shards=600, arrival_hours=12.0, policy="adaptive", behaviour="always"
        )
    )
    assert report.unchecked > 0  # trusted nodes ran shards alone
    assert report.overhead_pct < 150  # far below the 500% of six replicas
    assert report.cheaters_caught == report.byzantine_vehicles  # always-wrong gets caught
    assert report.honest_penalised == 0


def test_owner_policies_hold_back_parked_time(small: SimConfig) -> None:
    report = run_simulation(small)
    assert report.withheld_hours.get("outside-hours", 0) > 0
    assert report.withheld_hours.get("not-plugged-in", 0) > 0
    assert report.working_vehicles > 0 and report.energy_wh_max_vehicle > 0
    assert report.job_minutes_median is not None and report.job_minutes_p95 is not None
    assert report.job_minutes_median <= report.job_minutes_p95
