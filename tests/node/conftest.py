"""Fixtures for the node tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.model_fetch_fixtures import ModelFetchRig


@pytest.fixture
def fetch_rig(tmp_path: Path, mobilenet_int8: bytes) -> ModelFetchRig:
    """Model providers and a fetcher on real loopback hosts: `async with fetch_rig.open(...)`."""
    return ModelFetchRig(tmp_path, mobilenet_int8)
