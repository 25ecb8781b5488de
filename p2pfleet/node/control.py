"""The daemon's local endpoints: `/status` (for `p2pfleet node status`) and `/metrics`.

The control endpoint listens on `[node] control_address` (loopback by
default, port 0 picks one) and writes its URL to `<data_dir>/control.json`,
where the CLI finds it. The Prometheus endpoint is off unless
`[node] metrics_address` is set.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING

import trio

from p2pfleet.node.http_endpoint import Response, serve_http
from p2pfleet.node.metrics import NodeMetrics

if TYPE_CHECKING:
    from p2pfleet.node.daemon import Node

log = logging.getLogger("p2pfleet.node.control")


def _status_page(node: Node) -> Response:
    body = json.dumps(node.status().to_json(), indent=2).encode() + b"\n"
    return 200, "application/json", body


async def serve_endpoints(
    node: Node, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    config = node.config
    async with trio.open_nursery() as nursery:
        if config.control_address:
            url = await nursery.start(
                serve_http, config.control_address, {"/status": lambda: _status_page(node)}
            )
            node.control_url = url
            _write_control_file(config.control_file, url, os.getpid())
            log.info(
                "status endpoint on %s/status",
                url,
                extra={"event": "node.control_listening", "url": url},
            )
        if config.metrics_address:
            metrics = NodeMetrics(node)
            url = await nursery.start(
                serve_http, config.metrics_address, {"/metrics": metrics.page}
            )
            node.metrics_url = url
            log.info(
                "Prometheus metrics on %s/metrics",
                url,
                extra={"event": "node.metrics_listening", "url": url},
            )
        task_status.started()


def _write_control_file(path: os.PathLike[str], url: str, pid: int) -> None:
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w") as handle:
        json.dump({"url": url, "pid": pid}, handle)
    os.replace(tmp, path)
