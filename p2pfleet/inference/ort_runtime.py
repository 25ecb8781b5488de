"""onnxruntime, pinned: the settings a tolerant-tier result depends on, and their checks.

Float results depend on the runtime's version and on how it is configured
(graph optimisation level changes fused kernels; see protocol/outputs.md). A
manifest therefore names `runtime = "onnxruntime"` plus every setting below, and
a node refuses a setting it cannot honour instead of silently running another.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORT_RUNTIME = "onnxruntime"
OPT_LEVELS = ("disable", "basic", "extended", "all")
EXECUTION_MODES = ("sequential", "parallel")
MAX_THREADS = 64
SETTING_KEYS = (
    "execution_mode",
    "graph_optimization_level",
    "inter_op_threads",
    "intra_op_threads",
    "version",
)


class RuntimeSettingsError(ValueError):
    """The manifest asks for onnxruntime settings this node cannot honour."""


def installed_version() -> str:
    import onnxruntime

    version: str = onnxruntime.__version__
    return version


@dataclass(frozen=True, slots=True, kw_only=True)
class OrtSettings:
    version: str
    graph_optimization_level: str = "all"
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    execution_mode: str = "sequential"

    def __post_init__(self) -> None:
        if self.graph_optimization_level not in OPT_LEVELS:
            raise RuntimeSettingsError(
                f"graph_optimization_level {self.graph_optimization_level!r} is not one of "
                f"{', '.join(OPT_LEVELS)}"
            )
        if self.execution_mode not in EXECUTION_MODES:
            raise RuntimeSettingsError(
                f"execution_mode {self.execution_mode!r} is not one of {', '.join(EXECUTION_MODES)}"
            )
        for name in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_THREADS:
                raise RuntimeSettingsError(f"{name} is {value}; it must be 1..{MAX_THREADS}")

    def as_manifest(self) -> dict[str, str]:
        """The manifest's `runtime_settings` (str -> str, see protocol/manifest.md)."""
        return {
            "execution_mode": self.execution_mode,
            "graph_optimization_level": self.graph_optimization_level,
            "inter_op_threads": str(self.inter_op_threads),
            "intra_op_threads": str(self.intra_op_threads),
            "version": self.version,
        }

    @classmethod
    def from_manifest(cls, settings: Mapping[str, str]) -> OrtSettings:
        unknown = sorted(set(settings) - set(SETTING_KEYS))
        missing = sorted(set(SETTING_KEYS) - set(settings))
        if unknown or missing:
            raise RuntimeSettingsError(
                f"onnxruntime settings must have exactly the keys {', '.join(SETTING_KEYS)} "
                f"(unknown: {unknown or 'none'}, missing: {missing or 'none'})"
            )
        try:
            intra = int(settings["intra_op_threads"])
            inter = int(settings["inter_op_threads"])
        except ValueError:
            raise RuntimeSettingsError("thread counts must be decimal integers") from None
        return cls(
            version=settings["version"],
            graph_optimization_level=settings["graph_optimization_level"],
            intra_op_threads=intra,
            inter_op_threads=inter,
            execution_mode=settings["execution_mode"],
        )


def pinned_settings() -> OrtSettings:
    """The settings a model is built and calibrated with: this onnxruntime, ALL, 1 thread."""
    return OrtSettings(version=installed_version())


def check_honourable(settings: OrtSettings, *, cpu_count: int | None = None) -> None:
    """Raise RuntimeSettingsError unless this machine can run exactly these settings."""
    installed = installed_version()
    if settings.version != installed:
        raise RuntimeSettingsError(
            f"the job pins onnxruntime {settings.version}; this node has {installed} "
            "(float results differ between versions)"
        )
    cpus = cpu_count or os.cpu_count() or 1
    if settings.intra_op_threads * settings.inter_op_threads > cpus:
        raise RuntimeSettingsError(
            f"the job asks for {settings.intra_op_threads}x{settings.inter_op_threads} threads; "
            f"this node has {cpus} CPUs"
        )


def make_session(onnx_bytes: bytes, settings: OrtSettings) -> Any:
    """An InferenceSession configured exactly as `settings` say (CPU provider only)."""
    import onnxruntime as ort

    check_honourable(settings)
    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[settings.graph_optimization_level]
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = (
        ort.ExecutionMode.ORT_SEQUENTIAL
        if settings.execution_mode == "sequential"
        else ort.ExecutionMode.ORT_PARALLEL
    )
    options.log_severity_level = 3
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
