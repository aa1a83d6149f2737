"""Estimators from `_target_` + parameters, and the full model: preprocessing + estimator."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, is_regressor
from sklearn.pipeline import Pipeline

from olist_pipeline.domain.features import GROUP_KEY


def import_object(path: str) -> Any:
    """Import `package.module.Name` and return `Name`."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ValueError(f"{path!r} is not an import path like 'package.module.Name'")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path!r}: {exc}") from None


def build_estimator(target: str, params: dict[str, Any]) -> BaseEstimator:
    """Instantiate and validate a scikit-learn regressor.

    Unknown parameters and invalid values (scikit-learn's own parameter constraints) fail here,
    before any data is read.
    """
    cls = import_object(target)
    if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator) and is_regressor(cls())):
        raise ValueError(f"{target} is not a scikit-learn regressor")
    valid = set(cls().get_params(deep=False))
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {cls.__name__}; valid: {sorted(valid)}")
    estimator = cls(**params)
    # scikit-learn checks types and ranges at fit time; do it now so a bad value stops the run early.
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate):
        validate()
    return estimator


class PerOrderRegressor(RegressorMixin, BaseEstimator):
    """`regressor` (an import path) built with `params`, fitted with every order weighing one in total.

    The review is given per order, but the merged table repeats an order for every item x payment,
    so a plain fit lets a 20-row order count 20 times (and fit its own leaf). `build_model` wraps this
    estimator in an `OrderWeightedPipeline`, which passes each row the weight 1 / (rows of its order).
    Predictions are still one per row.
    """

    def __init__(self, regressor: str = "sklearn.ensemble.HistGradientBoostingRegressor", params: dict[str, Any] | None = None):
        self.regressor = regressor
        self.params = params

    def _validate_params(self) -> None:
        # Called by build_estimator: fail on a bad inner regressor or parameter before any data is read.
        build_estimator(self.regressor, dict(self.params or {}))

    def fit(self, X: Any, y: Any, sample_weight: np.ndarray | None = None) -> PerOrderRegressor:
        self.regressor_ = build_estimator(self.regressor, dict(self.params or {}))
        self.regressor_.fit(X, y, sample_weight=sample_weight)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.regressor_.predict(X)


def order_weights(order_ids: pd.Series) -> np.ndarray:
    """1 / (rows of the row's order): every order's rows sum to one."""
    return 1.0 / order_ids.groupby(order_ids, sort=False).transform("size").to_numpy(dtype=float)


class OrderWeightedPipeline(Pipeline):
    """A Pipeline whose fit weighs rows by `order_weights` of the raw `order_id` column (the model's
    first stage still receives raw merged-table rows; predict is the Pipeline's own)."""

    def fit(self, X: pd.DataFrame, y: Any = None, **params: Any) -> OrderWeightedPipeline:
        params.setdefault(f"{self.steps[-1][0]}__sample_weight", order_weights(X[GROUP_KEY]))
        return super().fit(X, y, **params)


def build_model(preprocessor: Pipeline, estimator: BaseEstimator) -> Pipeline:
    """The saved model: raw merged-table rows in, predicted review_score out."""
    steps = [*preprocessor.steps, ("model", estimator)]
    return OrderWeightedPipeline(steps) if isinstance(estimator, PerOrderRegressor) else Pipeline(steps)
