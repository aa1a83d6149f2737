"""The Olist merged table as the project's Olist-specific code (the synthetic generator, the Kaggle join,
the scripts and tests) knows it. Its single declaration is `conf/dataset/olist_merged.yaml`: this module
reads that file, so the column list, dtypes and checks are never written twice."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import yaml

from olist_pipeline.domain.data.schema import TableDeclaration, ValidationReport, validate_table
from olist_pipeline.paths import CONF_DIR

DECLARATION_FILE = CONF_DIR / "dataset" / "olist_merged.yaml"


@lru_cache(maxsize=1)
def merged_declaration() -> TableDeclaration:
    """The merged table's declaration, from conf/dataset/olist_merged.yaml."""
    raw = yaml.safe_load(DECLARATION_FILE.read_text())
    return TableDeclaration.from_mapping(
        raw["name"], raw["columns"], raw["target"], tuple(raw.get("never_features") or ()), tuple(raw.get("soft_checks") or ())
    )


def validate_merged(df: pd.DataFrame, source: str = "data", require_target: bool = True) -> tuple[pd.DataFrame, ValidationReport]:
    """`validate_table` against the merged Olist declaration."""
    return validate_table(df, merged_declaration(), source, require_target)


TARGET = "review_score"
#: The 36 columns of `olist_customers_dataset.csv`, in its order.
MERGED_COLUMNS: list[str] = list(merged_declaration().columns)
#: The target and every column written with or after the review.
TARGET_AND_LEAKY_COLUMNS: frozenset[str] = merged_declaration().not_features
