"""`p2pfleet simulate` end to end (in process)."""

from __future__ import annotations

import json

import pytest

from p2pfleet.cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


SMALL = ("simulate", "--vehicles", "300", "--shards", "100", "--shards-per-job", "25")


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *SMALL, "--policy", "adaptive", "--behaviour", "mixed", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["shards_completed"] == report["shards"] == 100
    assert report["policy"] == "adaptive" and report["replicas"] == 2
    assert report["byzantine_vehicles"] == 30
    for key in ("wrong_accepted", "bound", "overhead_pct", "reassignments", "refusals"):
        assert key in report


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, *SMALL, "--seed", "4")
    assert code == 0
    assert "shards completed 100/100" in out
    assert "wrong accepted" in out and "energy" in out and "owner policy" in out


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--behaviour", "grumpy", "behaviour 'grumpy' is unknown"),
        ("--byzantine", "1.5", "byzantine must be a fraction"),
        ("--policy", "majority", "policy must be one of"),
        ("--trust-after", "50", "trust_after"),
    ],
)
def test_bad_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    code, _, err = run_cli(capsys, *SMALL, flag, value)
    assert code == 2
    assert message in err
