"""The scripts users run: the real-data report's cells and the plain baseline agree with the pipeline."""

import json
import subprocess
import sys

import pytest

from olist_pipeline.domain.data.olist import validate_merged
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.paths import PROJECT_ROOT

from tests.conftest import load_script


def test_report_cells_and_table():
    report = load_script("report_real")
    df = validate_merged(generate_merged(600, seed=2))[0]
    row = report.cell(df, "ridge", "delivery", "temporal")
    assert row["split"] == "temporal" and 0 < row["r2"] < 1 and row["fit_s"] > 0
    table = report.markdown([row], "x.csv", len(df))
    assert "| ridge | delivery | temporal |" in table


@pytest.mark.slow
def test_plain_baseline_matches_the_default_config():
    out = subprocess.run(
        [sys.executable, "scripts/plain_baseline.py"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    metrics = json.loads(out)
    assert set(metrics) == {"mse", "rmse", "mae", "r2"} and metrics["r2"] > 0.3
