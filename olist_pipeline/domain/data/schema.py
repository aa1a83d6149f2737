"""The merged Olist table: its 36 columns, their types, and the pandera checks that guard a run.

Hard checks stop the run (a report lists each failing check, column and count); soft checks are
returned as warnings and recorded as run metadata. The schema accepts the real data's quirks:
`product_name_lenght` (sic), missing delivery timestamps for undelivered orders, products without a
category, review comments with embedded newlines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from olist_pipeline.errors import DataError

TARGET = "review_score"

ID_COLUMNS = ["order_id", "customer_id", "customer_unique_id", "product_id", "seller_id", "review_id"]
TIMESTAMP_COLUMNS = [
    "order_purchase_timestamp",
    "order_approved_at",
    "order_delivered_carrier_date",
    "order_delivered_customer_date",
    "order_estimated_delivery_date",
    "shipping_limit_date",
    "review_creation_date",
    "review_answer_timestamp",
]
#: Columns written with or after the review: the target itself and everything that reveals it.
TARGET_AND_LEAKY_COLUMNS = frozenset(
    [
        TARGET,
        "review_id",
        "review_comment_title",
        "review_comment_message",
        "review_creation_date",
        "review_answer_timestamp",
    ]
)

#: Column -> dtype, in the order of the merged `olist_customers_dataset.csv`.
MERGED_DTYPES: dict[str, str] = {
    "order_id": "str",
    "customer_id": "str",
    "order_status": "str",
    "order_purchase_timestamp": "str",
    "order_approved_at": "str",
    "order_delivered_carrier_date": "str",
    "order_delivered_customer_date": "str",
    "order_estimated_delivery_date": "str",
    "customer_unique_id": "str",
    "customer_zip_code_prefix": "int64",
    "customer_city": "str",
    "customer_state": "str",
    "order_item_id": "int64",
    "product_id": "str",
    "seller_id": "str",
    "shipping_limit_date": "str",
    "price": "float64",
    "freight_value": "float64",
    "payment_sequential": "int64",
    "payment_type": "str",
    "payment_installments": "int64",
    "payment_value": "float64",
    "review_id": "str",
    "review_score": "int64",
    "review_comment_title": "str",
    "review_comment_message": "str",
    "review_creation_date": "str",
    "review_answer_timestamp": "str",
    "product_category_name": "str",
    "product_name_lenght": "float64",
    "product_description_lenght": "float64",
    "product_photos_qty": "float64",
    "product_weight_g": "float64",
    "product_length_cm": "float64",
    "product_height_cm": "float64",
    "product_width_cm": "float64",
}
MERGED_COLUMNS: list[str] = list(MERGED_DTYPES)

# Columns that may be empty in real data (undelivered orders, products without a category, no comment).
_NULLABLE = {
    "order_approved_at",
    "order_delivered_carrier_date",
    "order_delivered_customer_date",
    "review_comment_title",
    "review_comment_message",
    "review_creation_date",
    "review_answer_timestamp",
    "product_category_name",
    "product_name_lenght",
    "product_description_lenght",
    "product_photos_qty",
    "product_weight_g",
    "product_length_cm",
    "product_height_cm",
    "product_width_cm",
}
_NON_NEGATIVE = {
    "price",
    "freight_value",
    "payment_value",
    "payment_installments",
    "product_weight_g",
    "product_length_cm",
    "product_height_cm",
    "product_width_cm",
    "product_photos_qty",
}


def _parseable_timestamps(series: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    return parsed.notna() | series.isna()


def _column_schema(name: str, dtype: str, required: bool = True) -> pa.Column:
    checks: list[pa.Check] = []
    if name in _NON_NEGATIVE:
        checks.append(pa.Check.ge(0))
    if name == TARGET:
        checks.append(pa.Check.isin([1, 2, 3, 4, 5]))
    if name in TIMESTAMP_COLUMNS:
        checks.append(pa.Check(_parseable_timestamps, element_wise=False, error="timestamp parseable"))
    if name == "order_item_id" or name == "payment_sequential":
        checks.append(pa.Check.ge(1))
    return pa.Column(dtype, checks=checks, nullable=name in _NULLABLE, coerce=True, required=required)


def merged_schema(require_target: bool = True) -> pa.DataFrameSchema:
    """Hard checks on the merged table; `require_target=False` for inference inputs (the target is not
    checked and the other review columns, written after the review, may be absent)."""
    columns = {
        name: _column_schema(name, dtype, required=require_target or name not in TARGET_AND_LEAKY_COLUMNS)
        for name, dtype in MERGED_DTYPES.items()
        if require_target or name != TARGET
    }
    return pa.DataFrameSchema(columns, strict=False, name="olist merged table")


def _delivered_not_before_purchase(df: pd.DataFrame) -> pd.Series:
    purchase = pd.to_datetime(df["order_purchase_timestamp"], errors="coerce", format="ISO8601")
    delivered = pd.to_datetime(df["order_delivered_customer_date"], errors="coerce", format="ISO8601")
    return ~(delivered < purchase)


def _delivered_has_date(df: pd.DataFrame) -> pd.Series:
    return ~((df["order_status"] == "delivered") & df["order_delivered_customer_date"].isna())


#: Soft checks: suspicious but real; counted, logged and recorded, never fatal.
SOFT_CHECKS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "delivered before purchase": _delivered_not_before_purchase,
    "status delivered without delivery date": _delivered_has_date,
}


@dataclass
class ValidationReport:
    """What validation found: the rows checked and the soft problems with their row counts."""

    rows: int
    columns: int
    warnings: dict[str, int] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, int | dict[str, int]]:
        """A plain dict for run metadata."""
        return {"rows": self.rows, "columns": self.columns, "warnings": dict(self.warnings)}


def _format_failures(errors: SchemaErrors | SchemaError, source: str) -> str:
    cases = errors.failure_cases
    if cases is None or len(cases) == 0:
        return f"{source}: {errors}"
    lines = []
    # A column that cannot be coerced to its dtype fails every later check too: report only the dtype.
    uncoercible = set(cases.loc[cases["check"].astype(str).str.startswith("coerce_dtype"), "column"])
    grouped = cases.groupby(["column", "check"], dropna=False, sort=False)
    for (column, check), rows in grouped:
        if column in uncoercible and not str(check).startswith("coerce_dtype"):
            continue
        examples = ", ".join(repr(v) for v in rows["failure_case"].drop_duplicates().head(3))
        column = "<table>" if pd.isna(column) else column
        check = str(check)
        if check == "column_in_dataframe":
            lines.append(f"missing column {examples}")
        else:
            lines.append(f"column {column!r} fails {check} in {len(rows)} row(s), e.g. {examples}")
    return f"{source}: " + "; ".join(lines)


def validate_merged(df: pd.DataFrame, source: str = "data", require_target: bool = True) -> tuple[pd.DataFrame, ValidationReport]:
    """Check `df` against the merged-table schema; return it with coerced dtypes and a report.

    Raises:
        DataError: listing every failing hard check with its column and failing-row count.
    """
    if df.empty:
        raise DataError(f"{source}: the table has no rows")
    try:
        validated = merged_schema(require_target).validate(df, lazy=True)
    except (SchemaErrors, SchemaError) as errors:
        raise DataError(_format_failures(errors, source)) from None
    warnings = {}
    for name, check in SOFT_CHECKS.items():
        failing = int((~check(validated)).sum())
        if failing:
            warnings[name] = failing
    return validated, ValidationReport(rows=len(validated), columns=validated.shape[1], warnings=warnings)
