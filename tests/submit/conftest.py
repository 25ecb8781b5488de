"""Submitter tests run many in-process nodes whose inference threads share one GIL.

With the default 5 ms switch interval the event loop (which carries every
node's streams) waits behind the inference thread on each wake-up and
protocol timeouts fire; separate node processes do not have this problem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def responsive_event_loop() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture(scope="session")
def minilm_model() -> bytes:
    """The MiniLM-L6 embedding model file (tolerant tier), built once per session."""
    from p2pfleet.inference.minilm import build_minilm

    return build_minilm()


@pytest.fixture(scope="session")
def float_mobilenet() -> bytes:
    """The float MobileNetV2 model file (tolerant tier), built once per session."""
    from p2pfleet.inference.mobilenet_onnx import build_mobilenet_v2_float

    return build_mobilenet_v2_float()
