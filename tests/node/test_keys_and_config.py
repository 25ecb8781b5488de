"""Key files (0600, refuse readable keys) and node/job config parsing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from p2pfleet.core.errors import KeyFileError
from p2pfleet.keys import generate_key_file, load_key_file
from p2pfleet.node.config import ConfigError, load_node_config
from p2pfleet.submit.job import JobSpecError, load_job_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_generated_key_is_private_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    identity = generate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key_file(path).peer_id == identity.peer_id
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_file(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "node.key"
    generate_key_file(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key_file(path)


def test_malformed_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_text("not hex\n")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="hex digits"):
        load_key_file(path)


def test_example_node_config_parses() -> None:
    config = load_node_config(EXAMPLES / "node.toml")
    assert config.policy.min_battery_pct == 30
    assert config.region == "eu-west"


def test_unknown_config_key_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text("[policy]\nmin_batery_pct = 20\n")
    with pytest.raises(ConfigError, match="min_batery_pct"):
        load_node_config(path)


def test_example_job_parses_and_bad_job_is_refused(tmp_path: Path) -> None:
    spec = load_job_spec(EXAMPLES / "job.toml")
    assert spec.replicas == 6 and spec.shard_size == 4  # the 1e-6 default policy
    bad = tmp_path / "job.toml"
    bad.write_text("[verification]\nreplicas = 9\nmax_replicas = 3\n")
    with pytest.raises(JobSpecError, match="replicas"):
        load_job_spec(bad)


def test_on_dispute_is_recompute_by_default_and_checked(tmp_path: Path) -> None:
    assert load_job_spec(EXAMPLES / "job.toml").on_dispute == "recompute"
    job = tmp_path / "job.toml"
    job.write_text('[verification]\non_dispute = "escalate"\n')
    assert load_job_spec(job).on_dispute == "escalate"
    job.write_text('[verification]\non_dispute = "vote-again"\n')
    with pytest.raises(JobSpecError, match="on_dispute 'vote-again' is unknown"):
        load_job_spec(job)
