"""predict: batch predictions of a registered model version, one row out per row in."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from olist_pipeline.domain.inference import predictions_frame
from olist_pipeline.stack.materializers import ParquetMaterializer
from olist_pipeline.stack.registry import as_ref, get_version, load_model


@step(output_materializers=ParquetMaterializer)
def predict(
    orders: pd.DataFrame, model_name: str, model_version: int, id_columns: list[str], target: str
) -> Annotated[pd.DataFrame, "predictions"]:
    """Load the model artifact of `model_name` version `model_version` and score every row."""
    version = get_version(model_name, model_version)
    ref = as_ref(version)
    model = load_model(version)
    out = predictions_frame(model, orders, model_name, ref.number, ref.registry_version or "", id_columns, target)
    log_metadata({"rows": len(out), "model_name": model_name, "model_version": ref.number})
    return out
