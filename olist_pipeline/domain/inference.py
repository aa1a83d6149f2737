"""Batch inference as a pure function of a fitted model and raw rows of the declared table."""

from __future__ import annotations

import pandas as pd

from olist_pipeline.errors import DataError

#: The Olist regression's prediction column (`predicted_<target>`).
PREDICTION_COLUMN = "predicted_review_score"


def predictions_frame(
    model: object,
    orders: pd.DataFrame,
    model_name: str,
    model_version: int,
    registry_version: str,
    id_columns: list[str] | None = None,
    target: str = "review_score",
) -> pd.DataFrame:
    """The row's ids (`id_columns` present in the input; none: its position), the prediction, and the
    model version used. A regression model gives `predicted_<target>`; a binary one gives
    `probability_<label>` and `predicted_<label>` (1 when the probability reaches its threshold).

    One output row per input row, in input order.

    Raises:
        DataError: the rows lack columns the model reads.
    """
    needed = list(getattr(model, "feature_names_in_", []))
    missing = [c for c in needed if c not in orders.columns]
    if missing:
        raise DataError(f"inference input lacks column(s) {missing} that model {model_name} v{model_version} reads")
    ids = [c for c in (id_columns if id_columns is not None else ["order_id", "order_item_id"]) if c in orders.columns]
    out = orders[ids].reset_index(drop=True).copy() if ids else pd.DataFrame({"row": range(len(orders))})
    predicted = model.predict(orders[needed] if needed else orders)  # type: ignore[attr-defined]
    if isinstance(predicted, pd.DataFrame):  # a binary model: probability and label
        name = getattr(model, "label_name", "label")
        out[f"probability_{name}"] = predicted["probability"].to_numpy()
        out[f"predicted_{name}"] = predicted["label"].to_numpy()
    else:
        out[f"predicted_{target}"] = predicted
    out["model_name"] = model_name
    out["model_version"] = int(model_version)
    out["registry_version"] = str(registry_version)
    return out
