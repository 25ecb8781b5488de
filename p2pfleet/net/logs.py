"""Logging setup for processes that run libp2p hosts (pitfall 8).

py-libp2p's `libp2p` logger has no handler and `propagate=False`, so its
warnings reach stderr through logging's last-resort handler, unformatted; and
some of its modules call `logging.debug(...)` on the ROOT logger, which runs
`logging.basicConfig()` the first time and so installs a stderr handler on the
root logger behind the application's back. `configure_logging` fixes both.
Call it once, before the first `open_host`; it is idempotent.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

import libp2p

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
# Attributes every LogRecord has; anything else came in through `extra=`.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, message and the extra fields.

    `event` is the `extra={"event": ...}` name when the call site gave one
    (e.g. "task.abandoned"), else the logger name; other `extra` keys become
    fields of the object.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", record.name),
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key != "event" and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r}; choose one of {', '.join(LOG_FORMATS)}")
    return JsonFormatter() if log_format == "json" else logging.Formatter(LOG_FORMAT)


_LIBP2P_DIR = str(Path(libp2p.__file__).resolve().parent)
_MARK = "_p2pfleet_net_logging"
_libp2p_level: int | None = None


class _StrayLibp2pRecords(logging.Filter):
    """Drops records libp2p logs straight on the root logger below `level`."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        from_libp2p = record.pathname.startswith(_LIBP2P_DIR)
        return not (from_libp2p and record.levelno < self.level)


# py-libp2p logs at ERROR what p2pfleet.net already raises as a typed error to
# the caller (failed dials, failed stream negotiation), or what is routine
# teardown (streams opened to a peer that is disconnecting). Measured in the
# tests/net suite; these records are demoted to DEBUG.
_EXPECTED_ERRORS: dict[str, tuple[str, ...]] = {
    "libp2p.protocol_muxer.multiselect_client": ("MultiselectClient handshake:",),
    "libp2p.host.basic_host": ("Failed to open stream to peer",),
    "libp2p.stream_muxer.yamux.yamux": ("Error in handle_incoming for peer",),
    "libp2p.network.swarm": ("failed to upgrade security for peer",),
    "libp2p.transport.tcp.tcp": ("Failed to open TCP stream",),
    # a hop stream ends after each reservation or malformed request: libp2p logs ERROR
    "libp2p.relay.circuit_v2.protocol": (
        "Error reading from hop stream",
        "Unexpected error handling hop stream",
        "Error sending status message",
        "Error handling stop stream",
        "Invalid message type",
    ),
    "libp2p.relay.circuit_v2.transport": ("Failed to fetch stored addresses",),
    # DHT queries to peers that left or closed the stream early
    # ...and FIND_NODE walks toward a model's content key (not a peer id) for providers
    "libp2p.kad_dht.kad_dht": (
        "Failed to read DHT message from stream",
        "FIND_NODE key is not a valid PeerId",
    ),
    "libp2p.kad_dht.peer_routing": ("Failed to open stream to",),
    "libp2p.kad_dht.provider_store": (
        "Failed to get providers from",
        "Failed to send ADD_PROVIDER",
        "Error sending ADD_PROVIDER",
    ),
}


class _DemoteExpectedErrors(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        expected = isinstance(record.msg, str) and record.msg.startswith(self.prefixes)
        if expected and record.levelno >= logging.WARNING:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        threshold = _libp2p_level if _libp2p_level is not None else logging.WARNING
        return record.levelno >= threshold


def configure_logging(
    level: int,
    *,
    libp2p_level: int = logging.WARNING,
    stream: TextIO | None = None,
    log_format: str = "text",
) -> None:
    """Route p2pfleet and py-libp2p logs through one handler on the root logger.

    `level` applies to the `p2pfleet` loggers, `libp2p_level` to py-libp2p's
    (its INFO and DEBUG output is very chatty); the root logger's own level is
    left alone. If the root logger has no handler yet, one writing to `stream`
    (default stderr) is installed, which also keeps `basicConfig` out;
    `log_format` "json" writes one JSON object per line on it. With
    `LIBP2P_DEBUG` set in the environment, py-libp2p keeps its own debug
    logging setup and only the root-logger guard is applied.
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    for installed in root.handlers:
        if getattr(installed, _MARK, False):
            installed.setFormatter(make_formatter(log_format))
    for old in [f for f in root.filters if isinstance(f, _StrayLibp2pRecords)]:
        root.removeFilter(old)
    root.addFilter(_StrayLibp2pRecords(libp2p_level))

    logging.getLogger("p2pfleet").setLevel(level)
    if os.environ.get("LIBP2P_DEBUG"):
        return
    global _libp2p_level
    _libp2p_level = libp2p_level
    libp2p_logger = logging.getLogger("libp2p")
    libp2p_logger.handlers.clear()
    libp2p_logger.setLevel(libp2p_level)
    libp2p_logger.propagate = True
    quiet_libp2p_submodules()


def quiet_libp2p_submodules() -> None:
    """Undo levels py-libp2p modules set on their own loggers at import.

    Some (e.g. `libp2p.network.auto_connector`) force INFO, bypassing the
    `libp2p` logger's level. `open_host` calls this again, for modules
    imported since `configure_logging`.
    """
    if _libp2p_level is None:
        return
    for name, prefixes in _EXPECTED_ERRORS.items():
        child = logging.getLogger(name)
        if not any(isinstance(f, _DemoteExpectedErrors) for f in child.filters):
            child.addFilter(_DemoteExpectedErrors(prefixes))
    for name, candidate in list(logging.root.manager.loggerDict.items()):
        if (
            name.startswith("libp2p.")
            and isinstance(candidate, logging.Logger)
            and candidate.level != logging.NOTSET
            and candidate.level < _libp2p_level
        ):
            candidate.setLevel(logging.NOTSET)
