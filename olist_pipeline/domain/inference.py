"""Batch inference as a pure function of a fitted model and raw merged-table rows."""

from __future__ import annotations

import pandas as pd

from olist_pipeline.errors import DataError

PREDICTION_COLUMN = "predicted_review_score"


def predictions_frame(
    model: object, orders: pd.DataFrame, model_name: str, model_version: int, registry_version: str
) -> pd.DataFrame:
    """order_id (and order_item_id when present), the predicted score, and the model version used.

    One output row per input row, in input order.

    Raises:
        DataError: the rows lack columns the model reads.
    """
    needed = list(getattr(model, "feature_names_in_", []))
    missing = [c for c in needed if c not in orders.columns]
    if missing:
        raise DataError(f"inference input lacks column(s) {missing} that model {model_name} v{model_version} reads")
    ids = [c for c in ("order_id", "order_item_id") if c in orders.columns]
    out = orders[ids].reset_index(drop=True).copy()
    out[PREDICTION_COLUMN] = model.predict(orders[needed] if needed else orders)  # type: ignore[attr-defined]
    out["model_name"] = model_name
    out["model_version"] = int(model_version)
    out["registry_version"] = str(registry_version)
    return out
