"""ingest -> validate -> clean."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from olist_pipeline.cleaning import clean as clean_rows
from olist_pipeline.data import loaders
from olist_pipeline.data.schema import validate_merged
from olist_pipeline.materializers import ParquetMaterializer
from olist_pipeline.spec import CleaningSpec, DatasetSpec

logger = logging.getLogger(__name__)


@step(output_materializers=ParquetMaterializer)
def ingest(dataset: DatasetSpec, data_sha256: str) -> Annotated[pd.DataFrame, "raw_orders"]:
    """Read the input as the merged table. `data_sha256` (the input's fingerprint) is a parameter so
    that changed bytes under the same path invalidate the cache; the step re-checks it."""
    df, digest, details = loaders.load(dataset.format, Path(dataset.path), expected_sha256=data_sha256)
    for reference, rows in details.get("join", {}).get("orphans", {}).items():
        logger.warning("kaggle join: dropped %d row(s) without a partner (%s)", rows, reference)
    log_metadata({"source": dataset.path, "format": dataset.format, "sha256": digest, "rows": len(df), **details})
    return df


@step(output_materializers=ParquetMaterializer)
def validate(
    raw_orders: pd.DataFrame, source: str, require_target: bool = True
) -> Annotated[pd.DataFrame, "validated_orders"]:
    """Hard schema checks stop the run; soft findings are logged and recorded as metadata.
    `require_target=False` (inference): the review columns may be absent."""
    df, report = validate_merged(raw_orders, source=source, require_target=require_target)
    for problem, rows in report.warnings.items():
        logger.warning("data check: %s in %d row(s)", problem, rows)
    log_metadata({"validation": report.as_metadata()})
    return df


@step(output_materializers=ParquetMaterializer)
def clean(
    validated_orders: pd.DataFrame, cleaning: CleaningSpec, feature_columns: list[str], target: str
) -> Annotated[pd.DataFrame, "clean_orders"]:
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
