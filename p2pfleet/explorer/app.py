"""The explorer's ASGI app (trio): the page, its static files, a JSON API and an SSE stream.

A small router, no framework. Every route is GET (HEAD works too); anything
else is 405, unknown paths are 404, all errors are JSON. `/api/events` is a
Server-Sent Events stream that pushes the whole snapshot whenever it changes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any, Protocol

import trio

log = logging.getLogger("p2pfleet.explorer.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    ),
]
#: The API routes and which part of the snapshot each one returns (None: all of it).
API_ROUTES: dict[str, str | None] = {
    "/api/snapshot": None,
    "/api/peers": "peers",
    "/api/summary": "summary",
    "/api/history": "history",
    "/api/graph": "graph",
    "/api/jobs": "jobs",
}


class SnapshotSource(Protocol):
    def snapshot(self) -> dict[str, Any]: ...

    async def wait_changed(self) -> None: ...


def sse_event(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Events message: `event:`, optional `id:`, one `data:` line per line."""
    if "\n" in event or "\r" in event:
        raise ValueError("an SSE event name cannot contain a line break")
    text = json.dumps(data, separators=(",", ":"))
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in text.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every shipped static file by URL path (read once; nothing outside this set is served)."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("p2pfleet.explorer").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in CONTENT_TYPES:
            files[f"/static/{entry.name}"] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    files["/"] = files["/static/index.html"]
    return files


class ExplorerApp:
    """`ExplorerApp(source)` is an ASGI 3 application."""

    def __init__(
        self,
        source: SnapshotSource,
        *,
        sse_heartbeat_s: float = 15.0,
        sse_min_interval_s: float = 0.1,
        max_sse_clients: int = 64,
    ) -> None:
        self._source = source
        self._static = load_static()
        self._heartbeat_s = sse_heartbeat_s
        self._min_interval_s = sse_min_interval_s
        self._max_sse_clients = max_sse_clients
        self.sse_clients = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not offered; hypercorn closes the connection
        method, path = scope["method"], scope["path"]
        if method not in ("GET", "HEAD"):
            await _json(send, {"error": f"{method} is not allowed; use GET"}, status=405)
            return
        head = method == "HEAD"
        if path in self._static:
            body, content_type = self._static[path]
            await _respond(send, 200, body, content_type, head=head)
        elif path in API_ROUTES:
            part = API_ROUTES[path]
            document = self._source.snapshot()
            await _json(send, document if part is None else document[part], head=head)
        elif path == "/api/events" and self.sse_clients >= self._max_sse_clients:
            message = "too many live pages open; retry later or poll /api/snapshot"
            await _json(send, {"error": message}, status=503)
        elif path == "/api/events":
            await self._events(receive, send)
        elif path == "/healthz":
            await _respond(send, 200, b"ok\n", "text/plain; charset=utf-8", head=head)
        else:
            await _json(send, {"error": f"no such page: {path}; try / or /api/summary"}, status=404)

    async def _events(self, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
            *SECURITY_HEADERS,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self.sse_clients += 1
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_cancel_on_disconnect, receive, nursery.cancel_scope)
                await self._push_snapshots(send)
        finally:
            self.sse_clients -= 1

    async def _push_snapshots(self, send: Send) -> None:
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        while True:
            document = self._source.snapshot()
            body = sse_event("snapshot", document, document.get("version"))
            await send({"type": "http.response.body", "body": body, "more_body": True})
            sent_at = trio.current_time()
            with trio.move_on_after(self._heartbeat_s) as idle:
                await self._source.wait_changed()
            if idle.cancelled_caught:
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
            # At most one snapshot per min interval: a burst of changes becomes one push.
            await trio.sleep_until(sent_at + self._min_interval_s)


async def _cancel_on_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, *, head: bool = False
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _json(send: Send, document: Any, *, status: int = 200, head: bool = False) -> None:
    body = (json.dumps(document, indent=1) + "\n").encode()
    await _respond(send, status, body, "application/json", head=head)
