"""build features: the model-input table (raw columns the feature set reads) and the target (the task's:
the value itself, or the binary label)."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from olist_pipeline.config.spec import DatasetSpec, FeaturesSpec, TaskSpec
from olist_pipeline.domain.features import fit_columns, input_columns, select_inputs
from olist_pipeline.domain.tasks import BINARY
from olist_pipeline.stack.materializers import ParquetMaterializer


# One entry per output, in order: given one class for several outputs, ZenML 0.98 lists them in set
# order, which varies between processes and enters the step's cache key (an identical run missed).
@step(output_materializers={"model_input": ParquetMaterializer, "target": ParquetMaterializer})
def build_features(
    clean_orders: pd.DataFrame, features: FeaturesSpec, dataset: DatasetSpec, task: TaskSpec, split_columns: list[str]
) -> tuple[Annotated[pd.DataFrame, "model_input"], Annotated[pd.Series, "target"]]:
    """Select the raw columns the feature set (and the split, and group weighting) needs; derivation
    happens inside the model so the saved model predicts from raw rows of the declared table. The
    target is the dataset's (regression) or the task's 0/1 label (binary)."""
    needed = input_columns(
        features.numeric, features.derived, features.categorical, features.datetime_parts, features.fitted
    )
    # Read only while fitting (point-in-time history: earlier rows' review dates and scores), never to score.
    keep = [c for c in (dataset.group_column, *fit_columns(features.fitted)) if c]
    columns = list(dict.fromkeys([*needed, *split_columns, *keep]))
    model_input = select_inputs(clean_orders, columns, features.name)
    if task.kind == BINARY:
        label = task.binary_label(dataset.target)
        target = label.apply(clean_orders[label.column], source=dataset.path)
        log_metadata({"label": {"name": label.name, "rule": label.rule(), "positives": int(target.sum())}})
    else:
        target = clean_orders[dataset.target].astype(float)
    log_metadata({"feature_set": features.name, "input_columns": columns, "rows": len(clean_orders), "task": task.kind})
    return model_input, target
