"""Serving the explorer: hypercorn's trio worker, and the `serve_explorer` entry point."""

from __future__ import annotations

import logging
from typing import Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from p2pfleet.explorer.app import ExplorerApp, SnapshotSource

log = logging.getLogger("p2pfleet.explorer.http")


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:8080' or '[::1]:8080' -> (host, port); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {text!r} must be HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


async def serve_http(
    source: SnapshotSource,
    listen: str,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the explorer page and API on `listen` until cancelled; starts with the base URL."""
    host, port = parse_listen(listen)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("p2pfleet.explorer.hypercorn")
    config.graceful_timeout = 1.0
    app = ExplorerApp(source)
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(_serve, app, config)
        base = binds[0].rstrip("/")
        log.info("explorer page at %s", base)
        task_status.started(base)


async def _serve(
    app: ExplorerApp, config: Config, *, task_status: trio.TaskStatus[list[str]]
) -> None:
    await serve(cast(Any, app), config, task_status=task_status)
