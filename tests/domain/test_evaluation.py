"""The evaluation report's numbers, tables and figures."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from olist_pipeline.domain import evaluation as report
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.domain.features import build_preprocessor, input_columns
from olist_pipeline.domain.models import build_estimator, build_model


def test_score_breakdown():
    y = np.array([1, 1, 2, 5, 5, 5, 4, 3])
    pred = np.array([1.5, 4.0, 1.0, 4.5, 5.0, 2.0, 4.0, 3.0])
    out = report.score_breakdown(y, pred)
    assert out["mae_score_1"] == pytest.approx(1.75) and out["mae_score_5"] == pytest.approx((0.5 + 0 + 3) / 3)
    # 3 low reviews; the 3 lowest predictions are rows 2 (1.0), 0 (1.5), 5 (2.0): two of them are low
    assert out["low_score_recall"] == pytest.approx(2 / 3) and out["low_score_share"] == pytest.approx(3 / 8)


def test_delay_buckets():
    est = pd.Series(["2018-01-10"] * 5)
    dlv = pd.Series(["2018-01-01", "2018-01-08", "2018-01-12", "2018-01-30", None])
    assert list(report.delay_bucket(est, dlv)) == ["early > 7 d", "early 0-7 d", "late 0-7 d", "late > 7 d", "undelivered"]


def test_report_on_a_trained_model():
    orders = generate_merged(800, seed=8)
    numeric, derived, categorical = ["price"], ["delivery_delay_days", "is_undelivered"], ["payment_type"]
    X = orders[input_columns(numeric, derived, categorical)]  # includes both delivery dates
    y = orders["review_score"].to_numpy(dtype=float)
    model = build_model(build_preprocessor(numeric, derived, categorical), build_estimator("sklearn.linear_model.Ridge", {}))
    model.fit(X, y)
    pred = model.predict(X)
    importances = report.importance(model, X, y, repeats=2, seed=0)
    assert "order_id" not in set(importances["column"])
    assert importances.iloc[0]["column"] in {"order_delivered_customer_date", "order_estimated_delivery_date"}
    by_delay = report.error_by_delay(X, y, pred)
    assert list(by_delay["delivery"]) == report.DELAY_BUCKETS and by_delay["rows"].sum() == len(X)
    figs = report.figures(y, pred, by_delay, importances)
    assert set(figs) == {"predicted_vs_actual.png", "residuals_by_score.png", "error_by_delivery_delay.png", "permutation_importance.png"}
    page = report.html_report("t", {"rmse": 1.0}, {"imp": importances}, figs)
    assert page.count("data:image/png;base64,") == 4 and "<table" in page
    import matplotlib.pyplot as plt

    assert set(plt.get_fignums()) >= {f.number for f in figs.values()}
    report.close_figures(figs)
    assert not {f.number for f in figs.values()} & set(plt.get_fignums())
    assert report.error_by_delay(X.drop(columns=["order_estimated_delivery_date"]), y, pred) is None


def test_metrics_without_the_report_do_not_import_matplotlib():
    """`evaluation.report=false` (the benchmarks' config) scores without importing matplotlib (~0.4 s)."""
    code = (
        "import sys, numpy as np\n"
        "from olist_pipeline.domain import evaluation as report\n"
        "report.score_breakdown(np.array([1, 5]), np.array([2.0, 4.0]))\n"
        "report.close_figures({})\n"
        "print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'sklearn.inspection'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
