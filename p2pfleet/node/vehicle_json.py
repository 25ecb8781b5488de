"""JSON vehicle adapter: newline-delimited vehicle state from a file or stdin.

A car integration writes one JSON object per line, each a complete status:

    {"state": "parked", "battery_pct": 72, "plugged_in": false, "link": "wifi",
     "temperature_c": 31.5, "departure": 1764003600}

`state` and `battery_pct` are required; `plugged_in` defaults to
`state == "charging"`, `link` to "none", `temperature_c` and `departure`
(unix seconds of the predicted departure) to null. Unknown keys, bad types and
out-of-range values are errors: the line is skipped, logged with its number,
and the last good status stays. A file is followed as it grows (like
`tail -F`, truncation and replacement included). Until the first good line the
vehicle counts as offline, so the node refuses work.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import trio

from p2pfleet.core.advert import VehicleState
from p2pfleet.node.vehicle import Link, StatusBroadcast, VehicleStatus

log = logging.getLogger("p2pfleet.node.vehicle")

MAX_LINE_BYTES = 4096
_E = TypeVar("_E", VehicleState, Link)
POLL_INTERVAL_S = 0.05
_KEYS = {"state", "battery_pct", "plugged_in", "link", "temperature_c", "departure"}
UNKNOWN_VEHICLE = VehicleStatus(
    state=VehicleState.OFFLINE, battery_pct=0, plugged_in=False, departure_ms=None, link=Link.NONE
)


class VehicleLineError(ValueError):
    """One line of vehicle JSON is invalid; the message says which field and why."""


def parse_vehicle_line(line: bytes | str) -> VehicleStatus:
    """Validate one line of vehicle JSON (see the module doc for the format)."""
    if len(line) > MAX_LINE_BYTES:
        raise VehicleLineError(f"line is {len(line)} bytes; the limit is {MAX_LINE_BYTES}")
    try:
        doc = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise VehicleLineError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise VehicleLineError("each line must be a JSON object")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise VehicleLineError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
        )
    for key in ("state", "battery_pct"):
        if key not in doc:
            raise VehicleLineError(f"missing required key {key!r}")
    state = _enum(VehicleState, doc["state"], "state")
    battery = doc["battery_pct"]
    if not _is_number(battery) or not 0 <= battery <= 100:
        raise VehicleLineError(f"battery_pct must be a number 0..100, got {battery!r}")
    plugged = doc.get("plugged_in", state is VehicleState.CHARGING)
    if not isinstance(plugged, bool):
        raise VehicleLineError(f"plugged_in must be true or false, got {plugged!r}")
    link = _enum(Link, doc.get("link", "none"), "link")
    temperature = doc.get("temperature_c")
    if temperature is not None and (not _is_number(temperature) or not -60 <= temperature <= 200):
        raise VehicleLineError(
            f"temperature_c must be a number -60..200 or null, got {temperature!r}"
        )
    departure = doc.get("departure")
    if departure is not None and (not _is_number(departure) or not 0 <= departure < 1e11):
        raise VehicleLineError(f"departure must be unix seconds or null, got {departure!r}")
    return VehicleStatus(
        state=state,
        battery_pct=int(battery),
        plugged_in=plugged,
        departure_ms=None if departure is None else int(departure * 1000),
        link=link,
        temperature_c=None if temperature is None else float(temperature),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _enum(kind: type[_E], value: Any, key: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise VehicleLineError(f"{key} must be one of {allowed}; got {value!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonVehicleConfig:
    path: str = "-"  # a file to follow, or "-" for stdin


class JsonVehicle:
    """Follows newline-delimited vehicle JSON from a file (as it grows) or stdin."""

    def __init__(self, config: JsonVehicleConfig) -> None:
        self._config = config
        self._broadcast = StatusBroadcast(UNKNOWN_VEHICLE)
        self.lines_read = 0
        self.bad_lines = 0

    @property
    def status(self) -> VehicleStatus:
        return self._broadcast.status

    async def wait_changed(self) -> VehicleStatus:
        return await self._broadcast.wait_changed()

    def report_compute_watts(self, watts: float) -> None:
        """The real car measures its own battery; nothing to model here."""

    def set_state(self, state: VehicleState) -> None:
        """Override the state until the car's next line replaces it."""
        plugged = state is VehicleState.CHARGING
        self._broadcast.update(replace(self.status, state=state, plugged_in=plugged))

    def feed_line(self, line: bytes) -> None:
        """Apply one line; a bad line is logged and skipped."""
        self.lines_read += 1
        if not line.strip():
            return
        try:
            status = parse_vehicle_line(line)
        except VehicleLineError as exc:
            self.bad_lines += 1
            log.warning(
                "vehicle input line %d ignored: %s",
                self.lines_read,
                exc,
                extra={"event": "vehicle.bad_line", "line": self.lines_read},
            )
            return
        self._broadcast.update(status)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self._config.path == "-":
            stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            task_status.started()
            async with stream:
                await self._follow_stream(stream)
        else:
            task_status.started()
            await self._follow_file(Path(self._config.path))

    async def _follow_stream(self, stream: trio.abc.ReceiveStream) -> None:
        buffer = b""
        while True:
            chunk = await stream.receive_some(65536)
            if not chunk:
                if buffer:
                    self.feed_line(buffer)
                log.warning("vehicle input on stdin ended; keeping the last status")
                await trio.sleep_forever()
            buffer = self._split(buffer + chunk)

    def _split(self, buffer: bytes) -> bytes:
        *lines, rest = buffer.split(b"\n")
        for line in lines:
            self.feed_line(line)
        if len(rest) > MAX_LINE_BYTES:
            self.feed_line(rest)  # reports the over-long line, then drops it
            return b""
        return rest

    async def _follow_file(self, path: Path) -> None:
        """Poll the file for new bytes; reopen when it is replaced or truncated."""
        tail = _FileTail(path)
        buffer = b""
        try:
            while True:
                chunk, reset = tail.read()
                if reset:
                    buffer = b""
                if chunk:
                    buffer = self._split(buffer + chunk)
                    await trio.lowlevel.checkpoint()
                else:
                    await trio.sleep(POLL_INTERVAL_S)
        finally:
            tail.close()


class _FileTail:
    """Reads what was appended to a file since the last call (like `tail -F`)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None

    def read(self) -> tuple[bytes, bool]:
        """(new bytes, whether the file was replaced or truncated since the last read)."""
        try:
            stat = os.stat(self._path)
        except FileNotFoundError:
            return b"", False
        reset = False
        identity = (stat.st_dev, stat.st_ino)
        if self._handle is None or identity != self._identity:
            self.close()
            reset = self._identity is not None
            self._handle, self._identity = open(self._path, "rb"), identity  # noqa: SIM115
        elif stat.st_size < self._handle.tell():
            self._handle.seek(0)
            reset = True
        return self._handle.read(65536), reset

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
