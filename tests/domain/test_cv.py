"""Grouped cross-validation and its per-row / per-order metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from olist_pipeline.domain.cv import classification_scores, grouped_cv, grouped_folds, per_order, regression_scores


@pytest.fixture
def frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    groups = np.repeat([f"o{i}" for i in range(60)], rng.integers(1, 4, size=60))
    x = rng.normal(size=len(groups))
    return pd.DataFrame({"x": x, "order_id": groups}), 2 * x + rng.normal(0, 0.1, size=len(x)), groups


class GroupMemory:
    """Predicts the training mean target of the row's group (the training mean for an unseen group)."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> GroupMemory:
        self.means, self.default = pd.Series(y, index=X["order_id"].to_numpy()).groupby(level=0).mean(), float(np.mean(y))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["order_id"].map(self.means).fillna(self.default).to_numpy()


def test_folds_keep_groups_whole_and_are_seeded(frame):
    _, _, groups = frame
    fold = grouped_folds(groups, n_splits=5, seed=1)
    assert pd.Series(fold).groupby(groups).nunique().max() == 1
    assert sorted(np.unique(fold)) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(fold, grouped_folds(groups, 5, seed=1))
    assert not np.array_equal(fold, grouped_folds(groups, 5, seed=2))


def test_grouped_cv_never_sees_a_held_out_group(frame):
    X, y, groups = frame
    result = grouped_cv(GroupMemory, X, y, groups, n_splits=5, seed=0)
    for k in range(5):  # every held-out row got the default: its group was never in training
        held_out = result.predictions[result.fold == k]
        assert np.unique(held_out).size == 1
    assert result.mean["r2"] < 0.1


def test_grouped_cv_summarises_folds(frame):
    X, y, groups = frame
    result = grouped_cv(LinearRegression, X[["x"]], y, groups, n_splits=4, seed=3)
    assert len(result.folds) == 4 and set(result.mean) == {"r2", "r2_per_order"}
    assert result.mean["r2"] == pytest.approx(np.mean([f["r2"] for f in result.folds]))
    assert result.std["r2"] == pytest.approx(np.std([f["r2"] for f in result.folds]))
    assert result.mean["r2"] > 0.95 and np.isfinite(result.predictions).all()
    assert result.summary()["r2"].count("±") == 1


def test_classification_cv_with_probabilities(frame):
    X, y, groups = frame
    labels = (y > 0).astype(int)
    result = grouped_cv(
        LogisticRegression, X[["x"]], labels, groups, n_splits=3, seed=0,
        score=classification_scores, predict=lambda m, X: m.predict_proba(X)[:, 1],
    )
    assert set(result.mean) == {"roc_auc", "pr_auc", "roc_auc_per_order", "pr_auc_per_order"}
    assert result.mean["roc_auc"] > 0.9


def test_per_order_metrics():
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    np.testing.assert_allclose(per_order([1, 3, 5, 0, 0, 3], groups), [2, 5, 1])
    labels = np.array([1, 1, 0, 0, 0, 1])  # order c: positive (one of its rows is)
    scores = np.array([0.9, 0.7, 0.1, 0.6, 0.6, 0.6])
    out = classification_scores(labels, scores, groups)
    assert out["roc_auc_per_order"] == 1.0 and out["pr_auc_per_order"] == 1.0
    assert out["roc_auc"] == pytest.approx(8 / 9)  # of 9 positive-negative pairs, 7 won and 2 ties (half each)
    r = regression_scores(np.array([1.0, 1.0, 5.0]), np.array([2.0, 0.0, 5.0]), np.array(["a", "a", "b"]))
    assert r["r2_per_order"] == 1.0 and r["r2"] < 1.0
