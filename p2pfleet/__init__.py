"""p2pfleet: peer-to-peer volunteer inference on parked vehicles.

The Python API is trio style::

    async with p2pfleet.open_node(config) as node: ...
    async with p2pfleet.open_client(config) as client: ...

Heavy modules (py-libp2p, numpy) load on first use, so `import p2pfleet` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ClientConfig", "JobSpec", "NodeConfig", "open_client", "open_node"]

_LAZY = {
    "open_node": "p2pfleet.node.daemon",
    "NodeConfig": "p2pfleet.node.config",
    "open_client": "p2pfleet.submit.client",
    "ClientConfig": "p2pfleet.submit.client",
    "JobSpec": "p2pfleet.submit.job",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'p2pfleet' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
