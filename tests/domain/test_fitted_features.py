"""Fitted features inside the model: the seller history is learned from the training rows (review dates
and scores, read only while fitting) and carried by the saved model, so scoring needs only the request
columns; a binary task's history still learns from review scores, not from its 0/1 label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from olist_pipeline.domain.data.olist import TARGET_AND_LEAKY_COLUMNS, validate_merged
from olist_pipeline.domain.features import FITTED, build_preprocessor, fit_columns, input_columns
from olist_pipeline.domain.history import FEATURES, SellerHistory
from olist_pipeline.domain.models import build_estimator, build_model
from olist_pipeline.domain.tasks import BINARY

from tests.conftest import SAMPLE

NUMERIC, DERIVED, CATEGORICAL = ["price"], ["delivery_days"], ["payment_type"]


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    frame, _ = validate_merged(pd.read_csv(SAMPLE))
    return frame


def test_the_model_reads_request_columns_only_and_learns_from_review_dates(orders):
    columns = input_columns(NUMERIC, DERIVED, CATEGORICAL, fitted=["seller_history"])
    assert {"seller_id", "order_purchase_timestamp"} <= set(columns)
    assert not set(columns) & TARGET_AND_LEAKY_COLUMNS  # a request carries no review column
    assert {"review_answer_timestamp", "review_score"} <= set(fit_columns(["seller_history"]))
    pre = build_preprocessor(NUMERIC, DERIVED, CATEGORICAL, fitted=["seller_history"])
    model = build_model(pre, build_estimator("sklearn.linear_model.Ridge", {}))
    X = orders[list(dict.fromkeys(["order_id", *columns, *fit_columns(["seller_history"])]))]
    model.fit(X, orders["review_score"].astype(float))
    assert list(model.feature_names_in_) == columns
    assert set(FEATURES) <= set(model[:-1].get_feature_names_out())
    request = orders[columns].head(1)  # one row, no review columns
    assert np.isfinite(model.predict(request)).all()


def test_missing_fit_columns_are_named(orders):
    pre = build_preprocessor(NUMERIC, DERIVED, CATEGORICAL, fitted=["seller_history"])
    columns = input_columns(NUMERIC, DERIVED, CATEGORICAL, fitted=["seller_history"])
    with pytest.raises(ValueError, match="review_answer_timestamp"):
        pre.fit(orders[columns], orders["review_score"])


def test_a_binary_task_history_learns_from_review_scores(orders):
    columns = input_columns(NUMERIC, DERIVED, CATEGORICAL, fitted=["seller_history"])
    X = orders[list(dict.fromkeys([*columns, *fit_columns(["seller_history"])]))]
    label = (orders["review_score"] <= 2).astype(int)
    pre = build_preprocessor(NUMERIC, DERIVED, CATEGORICAL, fitted=["seller_history"])
    model = build_model(pre, build_estimator("sklearn.linear_model.LogisticRegression", {}, BINARY), BINARY, None)
    model.fit(X, label)
    learned = model[0].fitted_["seller_history"]
    direct = SellerHistory().fit(X[list(FITTED["seller_history"].fit_inputs)], orders["review_score"])
    rows = orders[columns].head(200)
    pd.testing.assert_frame_equal(learned.transform(rows), direct.transform(rows))
    means = learned.transform(orders[columns])["seller_prior_review_mean"].dropna()
    assert means.between(1, 5).all() and (means > 1).any()  # review scores, not 0/1 labels
    out = model.predict(rows)
    assert list(out.columns) == ["probability", "label"]
