"""Estimators from `_target_` + parameters, and the full model: preprocessing + estimator."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from sklearn.base import BaseEstimator, is_regressor
from sklearn.pipeline import Pipeline


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


def build_model(preprocessor: Pipeline, estimator: BaseEstimator) -> Pipeline:
    """The saved model: raw merged-table rows in, predicted review_score out."""
    return Pipeline([*preprocessor.steps, ("model", estimator)])
