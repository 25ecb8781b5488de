"""Protocol ids and gossip topic names (protocol/conventions.md)."""

from __future__ import annotations

TASK_PROTOCOL = "/p2pfleet/task/0.1.0"
MODEL_PROTOCOL = "/p2pfleet/model/0.1.0"  # model-fetch.md
STATUS_PROTOCOL = "/p2pfleet/status/0.1.0"
ADVERT_TOPIC_PREFIX = "p2pfleet/adverts/1/"


def advert_topic(region: str) -> str:
    if not region or "/" in region or len(region) > 64:
        raise ValueError(f"region {region!r} must be 1..64 characters without '/'")
    return ADVERT_TOPIC_PREFIX + region
