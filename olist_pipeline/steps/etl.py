"""ingest (read and check) -> clean."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from olist_pipeline import speed
from olist_pipeline.domain.cleaning import clean as clean_rows
from olist_pipeline.domain.data import loaders
from olist_pipeline.domain.data.schema import validate_table
from olist_pipeline.stack.materializers import ParquetMaterializer
from olist_pipeline.config.spec import CleaningSpec, DatasetSpec

logger = logging.getLogger(__name__)


@step(output_materializers=ParquetMaterializer)
def ingest(
    dataset: DatasetSpec, data_sha256: str, require_target: bool = True
) -> Annotated[pd.DataFrame, "validated_orders"]:
    """Read the input as one table and check it against the dataset's declaration: hard failures stop
    the run, soft findings are logged and recorded as metadata. `require_target=False` (inference): the
    target and the columns declared never-features may be absent.

    `data_sha256` (the input's fingerprint) is a parameter so that changed bytes under the same path
    invalidate the cache; the step re-checks it. Reading and checking are one step because they would
    store the same table twice: the schema's dtype coercion leaves a table read by the loaders as it
    is, so a separate validate step's output was a full copy of ingest's (at 1M rows, 0.8 s of Parquet
    writing and 0.4 s of statistics for nothing).
    """
    path = Path(dataset.path)
    loaded = speed.take_loaded(dataset.format, path, data_sha256)  # kept by the run's fingerprint
    df, digest, details = loaded or loaders.load(dataset.format, path, expected_sha256=data_sha256)
    for reference, rows in details.get("join", {}).get("orphans", {}).items():
        logger.warning("kaggle join: dropped %d row(s) without a partner (%s)", rows, reference)
    validated, report = validate_table(df, dataset.table(), source=dataset.path, require_target=require_target)
    for problem, rows in report.warnings.items():
        logger.warning("data check: %s in %d row(s)", problem, rows)
    log_metadata(
        {
            "source": dataset.path,
            "dataset": dataset.name,
            "format": dataset.format,
            "sha256": digest,
            "rows": len(df),
            **details,
            "validation": report.as_metadata(),
        }
    )
    return validated


@step(output_materializers=ParquetMaterializer)
def clean(
    validated_orders: pd.DataFrame, cleaning: CleaningSpec, feature_columns: list[str], target: str
) -> Annotated[pd.DataFrame, "clean_orders"]:  # the artifact names stay as they were for every dataset
    """Apply the configured cleaning strategy."""
    df, report = clean_rows(
        validated_orders,
        strategy=cleaning.strategy,
        feature_columns=feature_columns,
        target=target,
        drop_duplicate_rows=cleaning.drop_duplicate_rows,
        valid_order_statuses=cleaning.valid_order_statuses,
    )
    log_metadata({"cleaning": {"rows_in": report.rows_in, "rows_out": report.rows_out, "dropped": report.dropped}})
    return df
