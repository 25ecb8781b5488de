"""Fixtures shared across the suite."""

from __future__ import annotations

import pytest

from p2pfleet.inference.runtime import build_mobilenet_v2_int8


@pytest.fixture(scope="session")
def mobilenet_int8() -> bytes:
    """The exact-tier model file, built once per session from the installed weights."""
    return build_mobilenet_v2_int8()
