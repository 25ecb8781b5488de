"""Job specs: what to run, on what, and how hard to verify it (TOML)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_PHOTOS = "sample:photos"


class JobSpecError(ValueError):
    """The job file is invalid; the message names the key and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    model: str = "mobilenet_v2-int8"  # a built-in model name
    inputs: str = SAMPLE_PHOTOS  # a folder of images, one image file, or sample:photos
    shard_size: int = 2
    deadline_s: float = 600.0
    regions: tuple[str, ...] = ()
    min_tier_watts: int = 0
    replicas: int = 2
    max_replicas: int = 5
    output_dir: Path = Path("p2pfleet-output")

    def __post_init__(self) -> None:
        if not 1 <= self.shard_size <= 256:
            raise JobSpecError("shard_size must be within 1..256")
        if not 1 <= self.replicas <= self.max_replicas <= 16:
            raise JobSpecError("need 1 <= replicas <= max_replicas <= 16")
        if self.deadline_s <= 0:
            raise JobSpecError("deadline_s must be positive")


_JOB_KEYS = {
    "model",
    "inputs",
    "shard_size",
    "deadline_s",
    "regions",
    "min_tier_watts",
    "output_dir",
}
_VERIFY_KEYS = {"policy", "replicas", "max_replicas"}


def load_job_spec(path: Path) -> JobSpec:
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise JobSpecError(f"job file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobSpecError(f"{path}: not valid TOML: {exc}") from exc
    job: dict[str, Any] = doc.get("job", {})
    verification: dict[str, Any] = doc.get("verification", {})
    for section, allowed, name in (
        (job, _JOB_KEYS, "[job]"),
        (verification, _VERIFY_KEYS, "[verification]"),
    ):
        unknown = sorted(set(section) - allowed)
        if unknown:
            raise JobSpecError(f"{name}: unknown key(s) {', '.join(unknown)}")
    if verification.get("policy", "exact-unanimous") != "exact-unanimous":
        raise JobSpecError(
            "[verification] policy: only 'exact-unanimous' is supported in this version"
        )
    kwargs: dict[str, Any] = {
        k: v for k, v in job.items() if k not in ("regions", "output_dir", "inputs")
    }
    if "regions" in job:
        kwargs["regions"] = tuple(str(r) for r in job["regions"])
    if "output_dir" in job:
        kwargs["output_dir"] = (path.parent / job["output_dir"]).resolve()
    if "inputs" in job:
        inputs = str(job["inputs"])
        kwargs["inputs"] = (
            inputs if inputs == SAMPLE_PHOTOS else str((path.parent / inputs).resolve())
        )
    kwargs.update({k: verification[k] for k in ("replicas", "max_replicas") if k in verification})
    try:
        return JobSpec(**kwargs)
    except TypeError as exc:
        raise JobSpecError(f"invalid job spec: {exc}") from exc
