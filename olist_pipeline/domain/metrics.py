"""Regression metrics under their true names."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


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
