"""build features: the model-input table (raw columns the feature set reads) and the target."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from olist_pipeline.domain.features import input_columns, select_inputs
from olist_pipeline.stack.materializers import ParquetMaterializer
from olist_pipeline.config.spec import FeaturesSpec


# One entry per output, in order: given one class for several outputs, ZenML 0.98 lists them in set
# order, which varies between processes and enters the step's cache key (an identical run missed).
@step(output_materializers={"model_input": ParquetMaterializer, "target": ParquetMaterializer})
def build_features(
    clean_orders: pd.DataFrame, features: FeaturesSpec, target: str, split_columns: list[str]
) -> tuple[Annotated[pd.DataFrame, "model_input"], Annotated[pd.Series, "target"]]:
    """Select the raw columns the feature set (and the split) needs; derivation happens inside the
    model so the saved model predicts from raw merged-table rows."""
    columns = list(dict.fromkeys([*input_columns(features.numeric, features.derived, features.categorical), *split_columns]))
    model_input = select_inputs(clean_orders, columns, features.name)
    log_metadata({"feature_set": features.name, "input_columns": columns, "rows": len(clean_orders)})
    return model_input, clean_orders[target].astype(float)
