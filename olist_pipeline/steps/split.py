"""split: one label per row (train / validation / test), never copies of the data."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from olist_pipeline.stack.materializers import ParquetMaterializer
from olist_pipeline.domain.splits import partition
from olist_pipeline.config.spec import SplitSpec


# ZenML's Series metadata is mean/std/min/max, meaningless for labels; rows per side are logged instead.
@step(enable_artifact_metadata=False, output_materializers=ParquetMaterializer)
def split(model_input: pd.DataFrame, split: SplitSpec) -> Annotated[pd.Series, "partition"]:
    """Label rows with the configured strategy."""
    labels = partition(
        model_input,
        strategy=split.strategy,
        test_size=split.test_size,
        validation_size=split.validation_size,
        group_column=split.group_column,
        seed=split.seed,
        time_column=split.time_column,
        cutoff=split.cutoff,
    )
    counts = {str(k): int(v) for k, v in labels.value_counts().items()}
    log_metadata({"rows_per_partition": counts, "strategy": split.strategy})
    return labels
