"""Simulated days through the real job, verified exactly against the simulator's ground truth.

The truth is computed by the simulator from its own world (simulators/truth.py), not by the job's
rules, so an agreement here is two independent readings of DESIGN §4 agreeing.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import sitcen

pytestmark = pytest.mark.integration

FAULTS = ["--duplicates", "0.05", "--out-of-order", "0.03", "--late-allowed", "0.02", "--late", "0.01",
          "--malformed", "0.02", "--service-mismatch", "0.005"]
INCIDENT = ["--incident", "spec-almaty theory_exam 10:00-12:00 capacity 1"]


def simulate_run_verify(tmp_path, *simulate_args: str) -> dict:
    data = tmp_path / "day.jsonl"
    sitcen("simulate", "--date", "2026-11-24", "--seed", "5", "--out", str(data), "--quiet", *simulate_args,
           cwd=tmp_path)
    dsn = f"chdb://{tmp_path / 'store'}"
    sitcen("run", "--input", str(data), "--clickhouse", dsn, "--quiet", cwd=tmp_path)
    proc = sitcen("verify", "--truth", f"{data}.truth", "--clickhouse", dsn, "--format", "json", cwd=tmp_path,
                  check=False)
    result = json.loads(proc.stdout)
    assert proc.returncode == (0 if result["ok"] else 1)
    return result


def test_clean_day_matches_the_truth(tmp_path, built):
    result = simulate_run_verify(tmp_path, "--branches", "3")
    assert result["ok"], json.dumps(result, indent=1)[:4000]


def test_day_with_every_fault_and_an_incident_matches_the_truth(tmp_path, built):
    result = simulate_run_verify(tmp_path, "--branches", "spec-almaty,ala-almaly-1,ast-yesil-1", *FAULTS, *INCIDENT)
    assert result["ok"], json.dumps(result, indent=1)[:4000]
    truth = json.loads((tmp_path / "day.jsonl.truth" / "expected" / "summary.json").read_text())
    assert truth["too_late"] > 0 and truth["duplicates"] > 0 and truth["dead_letters"] > 0
