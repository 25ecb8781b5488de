"""Job specs: what to run, on what, and how hard to verify it (TOML).

Verification policies (README "Submitting jobs"):

- `exact-unanimous` (default, k = 6): every shard runs on k nodes of distinct
  owners and is accepted only when all k commits agree bit for bit; a
  disagreement is settled by the submitter's own run (`on_dispute =
  "recompute"`, default) or escalates up to `max_replicas` (`"escalate"`,
  which weakens the bound). P(accept wrong) <= f**k: with k = 6, <= 1e-6 at
  f = 10% colluding Byzantine slots.
- `tolerant-unanimous`: the same k-unanimity; the tier is always the model's
  (a float model's replicas agree by its comparator, protocol/task.md), so
  either name works with any model.
- `adaptive`: k = `replicas` (default 2) for unproven nodes; a trusted node's
  shard is checked with probability 1/streak (trust capped), plus hidden
  canary shards. Cheaper; its bound is weaker (see the README).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from p2pfleet.core.reputation import AdaptivePolicy

SAMPLE_PHOTOS = "sample:photos"
SAMPLE_SENTENCES = "sample:sentences"
SAMPLES = (SAMPLE_PHOTOS, SAMPLE_SENTENCES)
POLICY_EXACT = "exact-unanimous"
POLICY_TOLERANT = "tolerant-unanimous"
POLICY_ADAPTIVE = "adaptive"
POLICIES = (POLICY_EXACT, POLICY_TOLERANT, POLICY_ADAPTIVE)
ON_DISPUTE = ("recompute", "escalate")
SAFE_REPLICAS = 6  # f**6 <= 1e-6 at f = 0.1 (core.verify.replicas_for_bound(0.1, 1e-6))
SAFE_MAX_REPLICAS = 9
ADAPTIVE_REPLICAS = 2
ADAPTIVE_MAX_REPLICAS = 5
CANARY_MAX_REPLICAS = 4  # a canary is judged on one commit; spares cover lost nodes


class JobSpecError(ValueError):
    """The job file is invalid; the message names the key and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    model: str = "mobilenet_v2-int8"  # a built-in model name
    inputs: str = SAMPLE_PHOTOS  # images or texts (submit/inputs.py), or sample:photos|sentences
    shard_size: int = 2
    deadline_s: float = 600.0
    regions: tuple[str, ...] = ()  # allowed data regions; empty: any
    attested_only: bool = False  # only nodes whose region a trusted authority certified
    min_tier_watts: int = 0
    min_battery_pct: int = 0
    estimated_ms_per_item: int = 500  # runtime estimate used against predicted departures
    max_node_share: float = 0.5  # most of a job's planned replica slots one node may run
    policy: str = POLICY_EXACT
    replicas: int = SAFE_REPLICAS
    max_replicas: int = SAFE_MAX_REPLICAS
    on_dispute: str = "recompute"  # or "escalate": more replicas instead of a local run
    canary_rate: float = 0.05  # adaptive: hidden canary shards per real shard
    trust_after: int = 10  # adaptive: consecutive valid results before trust
    trust_cap: int = 20  # adaptive: a trusted node is still checked >= 1/trust_cap
    output_dir: Path = Path("p2pfleet-output")

    def __post_init__(self) -> None:
        if not 1 <= self.shard_size <= 256:
            raise JobSpecError("shard_size must be within 1..256")
        if not 1 <= self.replicas <= self.max_replicas <= 16:
            raise JobSpecError("need 1 <= replicas <= max_replicas <= 16")
        if self.deadline_s <= 0:
            raise JobSpecError("deadline_s must be positive")
        if self.policy not in POLICIES:
            raise JobSpecError(
                f"policy {self.policy!r} is unknown; use one of {', '.join(POLICIES)}"
            )
        if self.on_dispute not in ON_DISPUTE:
            raise JobSpecError(
                f"on_dispute {self.on_dispute!r} is unknown; use one of {', '.join(ON_DISPUTE)}"
            )
        if not 0.0 < self.max_node_share <= 1.0:
            raise JobSpecError("max_node_share must be within (0, 1]")
        try:
            self.adaptive_policy()
        except ValueError as exc:
            raise JobSpecError(f"[verification]: {exc}") from exc

    def adaptive_policy(self) -> AdaptivePolicy | None:
        if self.policy != POLICY_ADAPTIVE:
            return None
        return AdaptivePolicy(
            trust_after=self.trust_after, trust_cap=self.trust_cap, canary_rate=self.canary_rate
        )

    def to_json(self) -> str:
        doc = asdict(self)
        doc["output_dir"] = str(self.output_dir)
        doc["regions"] = list(self.regions)
        return json.dumps(doc, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        doc = json.loads(text)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in doc.items() if k in known}
        kwargs["output_dir"] = Path(doc["output_dir"])
        kwargs["regions"] = tuple(doc["regions"])
        return cls(**kwargs)


_JOB_KEYS = {
    "model",
    "inputs",
    "shard_size",
    "deadline_s",
    "regions",
    "attested_only",
    "min_tier_watts",
    "min_battery_pct",
    "estimated_ms_per_item",
    "max_node_share",
    "output_dir",
}
_VERIFY_KEYS = {
    "policy",
    "replicas",
    "max_replicas",
    "on_dispute",
    "canary_rate",
    "trust_after",
    "trust_cap",
}


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
    policy = str(verification.get("policy", POLICY_EXACT))
    if policy not in POLICIES:
        raise JobSpecError(
            f"[verification] policy {policy!r} is unknown; use one of {', '.join(POLICIES)}"
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
        kwargs["inputs"] = inputs if inputs in SAMPLES else str((path.parent / inputs).resolve())
    kwargs["policy"] = policy
    if policy == POLICY_ADAPTIVE:
        kwargs["replicas"], kwargs["max_replicas"] = ADAPTIVE_REPLICAS, ADAPTIVE_MAX_REPLICAS
    kwargs.update({k: verification[k] for k in _VERIFY_KEYS - {"policy"} if k in verification})
    try:
        return JobSpec(**kwargs)
    except TypeError as exc:
        raise JobSpecError(f"invalid job spec: {exc}") from exc
