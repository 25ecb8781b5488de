"""Prometheus metrics for a node, collected at scrape time from its status and ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from p2pfleet.core.advert import VehicleState
from p2pfleet.node.http_endpoint import Response

if TYPE_CHECKING:
    from p2pfleet.node.daemon import Node


class _NodeCollector(Collector):
    def __init__(self, node: Node) -> None:
        self._node = node

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        node = self._node
        status = node.status()
        totals = node.ledger.totals()
        tasks = CounterMetricFamily(
            "p2pfleet_node_tasks", "Tasks recorded in the ledger, by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(totals.outcomes.items()):
            tasks.add_metric([outcome], count)
        yield tasks
        yield CounterMetricFamily(
            "p2pfleet_node_energy_wh", "Energy used by tasks (Wh)", value=totals.energy_wh
        )
        data = CounterMetricFamily(
            "p2pfleet_node_task_data_bytes", "Task bytes in and out, by link", labels=["link"]
        )
        data.add_metric(["cellular"], totals.cellular_bytes)
        data.add_metric(["other"], totals.data_bytes - totals.cellular_bytes)
        yield data
        models = CounterMetricFamily(
            "p2pfleet_node_model_transfer_bytes",
            "Model bytes downloaded and served, by direction and link",
            labels=["direction", "link"],
        )
        for direction in ("download", "upload"):
            for link in ("cellular", "other"):
                models.add_metric(
                    [direction, link], totals.model_transfers.get((direction, link), 0)
                )
        yield models
        gauges = {
            "p2pfleet_node_energy_today_wh": ("Energy used today (Wh)", status.energy_today_wh),
            "p2pfleet_node_energy_budget_wh": (
                "Owner's daily budget (Wh)",
                status.energy_budget_wh,
            ),
            "p2pfleet_node_cellular_mb_today": (
                "Cellular data today, tasks and models (MB)",
                status.cellular_mb_today,
            ),
            "p2pfleet_node_model_mb_today": ("Model transfers today (MB)", status.model_mb_today),
            "p2pfleet_node_connected_peers": ("Connected peers", status.connected_peers),
            "p2pfleet_node_known_adverts": ("Live adverts in the peer table", status.known_adverts),
            "p2pfleet_node_running_tasks": ("Shards executing now", status.running_tasks),
            "p2pfleet_node_battery_pct": ("Vehicle battery (%)", status.battery_pct),
            "p2pfleet_node_accepting": (
                "1 if the owner's policy allows work now",
                int(status.accepting),
            ),
            "p2pfleet_node_preemptions": ("Times driving cancelled running work", node.preemptions),
        }
        for name, (help_text, value) in gauges.items():
            yield GaugeMetricFamily(name, help_text, value=value)
        state = GaugeMetricFamily(
            "p2pfleet_node_vehicle_state", "1 for the vehicle's current state", labels=["state"]
        )
        for candidate in VehicleState:
            state.add_metric([candidate.value], int(candidate.value == status.state))
        yield state


class NodeMetrics:
    def __init__(self, node: Node) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_NodeCollector(node))

    def page(self) -> Response:
        return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
