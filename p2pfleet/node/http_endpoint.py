"""A tiny HTTP/1.1 server (h11 over trio) for the node's local endpoints.

GET only, one request per connection, bounded request size and time: enough
for `p2pfleet node status` and a Prometheus scrape, nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import h11
import trio

log = logging.getLogger("p2pfleet.node.http")

MAX_REQUEST_BYTES = 16 * 1024
REQUEST_TIMEOUT_S = 10.0

Response = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[], Response]


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


async def serve_http(
    address: str,
    routes: dict[str, Route],
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `routes` on `address` ('host:port', port 0 picks one); started() gives the URL."""
    host, port = parse_address(address)
    listeners = await trio.open_tcp_listeners(port, host=host)
    sockname = listeners[0].socket.getsockname()
    task_status.started(f"http://{sockname[0]}:{sockname[1]}")

    async def handle(stream: trio.SocketStream) -> None:
        try:
            with trio.move_on_after(REQUEST_TIMEOUT_S):
                await _handle(stream, routes)
        except (trio.BrokenResourceError, h11.ProtocolError) as exc:
            log.debug("local http connection failed: %s", exc)
        finally:
            await stream.aclose()

    await trio.serve_listeners(handle, listeners)


async def _handle(stream: trio.SocketStream, routes: dict[str, Route]) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(4096))
            continue
        break
    if not isinstance(event, h11.Request):
        return
    target = event.target.decode("ascii", "replace").split("?")[0]
    route = routes.get(target)
    if event.method != b"GET":
        status, ctype, body = 405, "text/plain", b"only GET is supported\n"
    elif route is None:
        known = ", ".join(sorted(routes))
        status, ctype, body = 404, "text/plain", f"not found; try {known}\n".encode()
    else:
        try:
            status, ctype, body = route()
        except Exception:  # a failing page must not take the node down
            log.exception("local endpoint %s failed", target)
            status, ctype, body = 500, "text/plain", b"internal error; see the node log\n"
    headers = [
        ("content-type", ctype),
        ("content-length", str(len(body))),
        ("connection", "close"),
    ]
    data = conn.send(h11.Response(status_code=status, headers=headers))
    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)
