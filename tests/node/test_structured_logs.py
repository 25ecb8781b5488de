"""`--log-format json`: one JSON object per line, with the event name and its fields."""

from __future__ import annotations

import io
import json
import logging

import pytest

from p2pfleet.net.logs import JsonFormatter, make_formatter


def test_json_formatter_writes_event_message_and_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("p2pfleet.test.structured")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info(
            "abandoned shard %d", 3, extra={"event": "task.abandoned", "shard": 3, "job": "ab"}
        )
        logger.warning("no event name here")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed", extra={"event": "x.failed"})
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["event"] == "task.abandoned" and first["msg"] == "abandoned shard 3"
    assert first["shard"] == 3 and first["job"] == "ab" and first["level"] == "info"
    assert first["logger"] == "p2pfleet.test.structured" and first["ts"].endswith("Z")
    assert second["event"] == "p2pfleet.test.structured" and second["level"] == "warning"
    assert "ValueError: boom" in third["exception"]


def test_unknown_log_format_is_refused() -> None:
    assert isinstance(make_formatter("json"), JsonFormatter)
    with pytest.raises(ValueError, match="text, json"):
        make_formatter("xml")
