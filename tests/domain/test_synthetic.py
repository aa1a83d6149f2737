import gzip
import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from olist_pipeline.domain.data.olist import MERGED_COLUMNS, validate_merged
from olist_pipeline.domain.data.synthetic import generate_merged

from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_merged(3000, seed=11)


def test_deterministic():
    a, b = generate_merged(300, seed=3), generate_merged(300, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not generate_merged(300, seed=4).equals(a)


def test_exact_merged_schema_and_valid(frame):
    assert list(frame.columns) == MERGED_COLUMNS
    assert len(MERGED_COLUMNS) == 36
    _, report = validate_merged(frame)
    assert report.rows == len(frame)


def test_realistic_shape(frame):
    shares = frame.drop_duplicates("order_id")["review_score"].value_counts(normalize=True)
    for score, expected in {5: 0.57, 4: 0.19, 3: 0.08, 2: 0.03, 1: 0.12}.items():
        assert abs(shares[score] - expected) < 0.03, (score, shares[score])
    per_order = frame.groupby("order_id")
    assert (per_order["order_item_id"].nunique() > 1).any(), "multi-item orders"
    assert (per_order["payment_sequential"].nunique() > 1).any(), "multi-payment orders"
    assert frame["order_delivered_customer_date"].isna().any(), "undelivered orders"
    assert frame["product_category_name"].isna().any(), "products without category"
    assert frame["review_comment_message"].str.contains("\n", na=False).any(), "comments with newlines"


def test_late_delivery_lowers_score(frame):
    orders = frame.drop_duplicates("order_id")
    delay = (
        pd.to_datetime(orders["order_delivered_customer_date"]) - pd.to_datetime(orders["order_estimated_delivery_date"])
    ).dt.days
    late = orders.loc[delay > 3, "review_score"].mean()
    on_time = orders.loc[delay <= 0, "review_score"].mean()
    assert late < on_time - 1.0


def test_embedded_sample_is_the_generator_output(tmp_path):
    """data/olist_sample.csv.gz is made by scripts/generate_sample.py, byte for byte."""
    out = tmp_path / "sample.csv.gz"
    subprocess.run([sys.executable, "scripts/generate_sample.py", "--out", str(out)], check=True, cwd=SAMPLE.parents[1], capture_output=True)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    with gzip.open(SAMPLE, "rt") as fh:
        assert fh.readline().strip().split(",") == MERGED_COLUMNS
    assert 3000 <= pd.read_csv(SAMPLE)["order_id"].nunique() <= 10000
    assert np.isfinite(pd.read_csv(SAMPLE)["price"]).all()
