"""Regression metrics under their true names."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from olist_pipeline.domain.evaluation import score_breakdown


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, names: list[str] | None = None) -> dict[str, float]:
    """MSE, RMSE, MAE and R^2 (or the subset in `names`)."""
    mse = float(mean_squared_error(y_true, y_pred))
    values = {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }
    return {k: values[k] for k in (names or values)}


def model_scores(y_true: np.ndarray, y_pred: np.ndarray, names: list[str] | None, low_score_max: int) -> dict[str, float]:
    """Every number a model is judged on: `regression_metrics` plus `score_breakdown`.

    The candidate's evaluation and the champion's re-scoring both use it, so the gate compares like with like.
    """
    scores = regression_metrics(y_true, y_pred, names)
    scores.update(score_breakdown(y_true, y_pred, low_score_max))
    return scores
