"""The explorer's ASGI app without a browser: routes, static files, errors, SSE framing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from p2pfleet.explorer.app import API_ROUTES, ExplorerApp, sse_event


class FakeSource:
    """A snapshot source whose document changes when the test says so."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = trio.Event()

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "peers": [{"peer": "p1", "state": "parked"}],
            "summary": {"peers": 1},
            "history": {"interval_s": 5.0, "samples": []},
            "graph": {"nodes": [], "edges": []},
            "jobs": [],
        }

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def change(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = trio.Event()


async def call(
    app: ExplorerApp, path: str, method: str = "GET"
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "method": method, "path": path, "headers": []}
    await app(scope, receive, send)
    start = sent[0]
    assert start["type"] == "http.response.start"
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def run(path: str, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    async def main() -> tuple[int, dict[bytes, bytes], bytes]:
        return await call(ExplorerApp(FakeSource()), path, method)

    return trio.run(main)


def test_index_page_is_html_with_our_own_script_and_style() -> None:
    status, headers, body = run("/")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/html")
    assert b'src="/static/app.js"' in body and b'href="/static/style.css"' in body
    assert b"http://" not in body and b"https://" not in body  # nothing from a CDN
    assert b"script-src 'self'" in headers[b"content-security-policy"]


@pytest.mark.parametrize(
    ("path", "kind"), [("/static/app.js", b"text/javascript"), ("/static/style.css", b"text/css")]
)
def test_static_files(path: str, kind: bytes) -> None:
    status, headers, body = run(path)
    assert status == 200 and headers[b"content-type"].startswith(kind)
    assert int(headers[b"content-length"]) == len(body) > 100


@pytest.mark.parametrize("path", sorted(API_ROUTES))
def test_api_routes_return_their_part_of_the_snapshot(path: str) -> None:
    status, headers, body = run(path)
    assert status == 200 and headers[b"content-type"] == b"application/json"
    part = API_ROUTES[path]
    full = FakeSource().snapshot()
    assert json.loads(body) == (full if part is None else full[part])


@pytest.mark.parametrize(
    "path",
    ["/nope", "/static/", "/static/../app.py", "/static/app.py", "/api", "/api/peers/x", "//"],
)
def test_unknown_paths_are_json_404(path: str) -> None:
    status, headers, body = run(path)
    assert status == 404 and headers[b"content-type"] == b"application/json"
    assert "no such page" in json.loads(body)["error"]


def test_other_methods_are_405_and_head_has_no_body() -> None:
    status, _, body = run("/api/peers", "POST")
    assert status == 405 and "use GET" in json.loads(body)["error"]
    status, headers, body = run("/api/peers", "HEAD")
    assert status == 200 and body == b"" and int(headers[b"content-length"]) > 0


def test_sse_event_framing() -> None:
    frame = sse_event("snapshot", {"a": [1, 2], "b": "x\ny"}, 7)
    assert frame == b'event: snapshot\nid: 7\ndata: {"a":[1,2],"b":"x\\ny"}\n\n'
    assert sse_event("ping", None) == b"event: ping\ndata: null\n\n"
    with pytest.raises(ValueError, match="line break"):
        sse_event("a\nb", 1)


def test_sse_pushes_a_snapshot_on_connect_and_on_every_change_until_disconnect() -> None:
    async def main() -> list[bytes]:
        source = FakeSource()
        app = ExplorerApp(source, sse_min_interval_s=0.0)
        chunks: list[bytes] = []
        got_chunk = trio.Event()
        disconnect = trio.Event()
        start: dict[str, Any] = {}

        async def receive() -> dict[str, Any]:
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            nonlocal got_chunk
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message["body"])
            got_chunk.set()
            got_chunk = trio.Event()

        async def wait_for(text: bytes) -> None:
            while not any(text in chunk for chunk in chunks):
                await got_chunk.wait()

        scope = {"type": "http", "method": "GET", "path": "/api/events", "headers": []}
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(app, scope, receive, send)
                await wait_for(b"id: 0\n")
                assert app.sse_clients == 1
                source.change()
                await wait_for(b"id: 1\n")
                disconnect.set()  # the app must notice and return
        assert start["status"] == 200
        assert dict(start["headers"])[b"content-type"].startswith(b"text/event-stream")
        assert app.sse_clients == 0
        return chunks

    chunks = trio.run(main)
    assert chunks[0] == b"retry: 2000\n\n"
    events = [c for c in chunks if c.startswith(b"event: snapshot")]
    assert len(events) >= 2
    for event in events:
        data = event.split(b"data: ", 1)[1].rstrip(b"\n")
        assert json.loads(data)["peers"] == [{"peer": "p1", "state": "parked"}]


def test_sse_sends_keepalive_comments_when_idle() -> None:
    async def main() -> list[bytes]:
        app = ExplorerApp(FakeSource(), sse_heartbeat_s=0.05, sse_min_interval_s=0.0)
        chunks: list[bytes] = []
        pinged = trio.Event()

        async def receive() -> dict[str, Any]:
            await pinged.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.body":
                chunks.append(message["body"])
                if message["body"] == b": ping\n\n":
                    pinged.set()

        scope = {"type": "http", "method": "GET", "path": "/api/events", "headers": []}
        with trio.fail_after(10):
            await app(scope, receive, send)
        return chunks

    assert b": ping\n\n" in trio.run(main)


def test_lifespan_is_acknowledged() -> None:
    async def main() -> list[str]:
        app = ExplorerApp(FakeSource())
        incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            return next(incoming)

        async def send(message: Any) -> None:
            sent.append(message["type"])

        await app({"type": "lifespan"}, receive, send)
        return sent

    assert trio.run(main) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_live_pages_are_capped() -> None:
    async def main() -> tuple[int, dict[bytes, bytes], bytes]:
        return await call(ExplorerApp(FakeSource(), max_sse_clients=0), "/api/events")

    status, _, body = trio.run(main)
    assert status == 503 and "poll /api/snapshot" in json.loads(body)["error"]
