"""The Kaggle download (nine CSVs) joined into the merged table, with key checks and an orphan report.

Join semantics (the grain of the public merged `olist_customers_dataset.csv`: one row per order item x
payment, and per review where an order has several):

    orders  INNER customers (customer_id)
            INNER order_items (order_id)
            INNER order_payments (order_id)
            INNER order_reviews (order_id)
            LEFT  products (product_id)

Rows whose keys find no partner are dropped by the inner joins and reported as orphans. Primary keys
that are not unique stop the run. When present, sellers add `seller_zip_code_prefix`, `seller_city`,
`seller_state`, and the category translation adds `product_category_name_english` (extra columns;
the 36 merged columns keep their names and order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from olist_pipeline.domain.data.io import HashFile, ReadFile, read_csv_bytes, read_file, sha256_file
from olist_pipeline.domain.data.olist import MERGED_COLUMNS
from olist_pipeline.errors import DataError

#: table -> file stem in the Kaggle download
TABLES = {
    "orders": "olist_orders_dataset",
    "customers": "olist_customers_dataset",
    "items": "olist_order_items_dataset",
    "payments": "olist_order_payments_dataset",
    "reviews": "olist_order_reviews_dataset",
    "products": "olist_products_dataset",
    "sellers": "olist_sellers_dataset",
    "translation": "product_category_name_translation",
}
REQUIRED = ("orders", "customers", "items", "payments", "reviews", "products")
#: columns the join adds beyond the 36 merged ones, when the optional tables are present
EXTRA_COLUMNS = ("seller_zip_code_prefix", "seller_city", "seller_state", "product_category_name_english")

#: table -> its primary key (must be unique)
PRIMARY_KEYS = {
    "orders": ["order_id"],
    "customers": ["customer_id"],
    "items": ["order_id", "order_item_id"],
    "payments": ["order_id", "payment_sequential"],
    "products": ["product_id"],
    "sellers": ["seller_id"],
    "translation": ["product_category_name"],
}
#: (child table, child column, parent table, parent column): references checked for orphans
REFERENCES = [
    ("orders", "customer_id", "customers", "customer_id"),
    ("items", "order_id", "orders", "order_id"),
    ("payments", "order_id", "orders", "order_id"),
    ("reviews", "order_id", "orders", "order_id"),
    ("items", "product_id", "products", "product_id"),
    ("items", "seller_id", "sellers", "seller_id"),
]
#: columns each table must have (the ones the join and the merged schema use)
COLUMNS = {
    "orders": ["order_id", "customer_id", "order_status", "order_purchase_timestamp", "order_approved_at",
               "order_delivered_carrier_date", "order_delivered_customer_date", "order_estimated_delivery_date"],
    "customers": ["customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city", "customer_state"],
    "items": ["order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price", "freight_value"],
    "payments": ["order_id", "payment_sequential", "payment_type", "payment_installments", "payment_value"],
    "reviews": ["review_id", "order_id", "review_score", "review_comment_title", "review_comment_message",
                "review_creation_date", "review_answer_timestamp"],
    "products": ["product_id", "product_category_name", "product_name_lenght", "product_description_lenght",
                 "product_photos_qty", "product_weight_g", "product_length_cm", "product_height_cm", "product_width_cm"],
    "sellers": ["seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"],
    "translation": ["product_category_name", "product_category_name_english"],
}


@dataclass
class JoinReport:
    """What the join read, dropped and produced."""

    files: dict[str, str] = field(default_factory=dict)  # table -> file name
    rows_in: dict[str, int] = field(default_factory=dict)
    orphans: dict[str, int] = field(default_factory=dict)  # "items.order_id -> orders" -> rows
    rows_out: int = 0

    def as_metadata(self) -> dict[str, object]:
        """A plain dict for run metadata."""
        return {"files": self.files, "rows_in": self.rows_in, "orphans": self.orphans, "rows_out": self.rows_out}


def table_files(folder: Path) -> dict[str, Path]:
    """The Kaggle tables present in `folder` (`.csv` or `.csv.gz`); raises if a required one is missing."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (olist_kaggle expects the folder of the nine Kaggle CSVs)")
    found: dict[str, Path] = {}
    for table, stem in TABLES.items():
        for suffix in (".csv", ".csv.gz"):
            if (folder / f"{stem}{suffix}").is_file():
                found[table] = folder / f"{stem}{suffix}"
                break
    missing = [f"{TABLES[t]}.csv" for t in REQUIRED if t not in found]
    if missing:
        raise DataError(f"{folder}: missing Kaggle table(s) {missing} (.csv or .csv.gz)")
    return found


def _combine(file_digests: dict[str, tuple[str, bytes]]) -> str:
    """One sha256 over (table, file name, file sha256) of every table, in table order."""
    digest = hashlib.sha256()
    for table, (name, file_digest) in sorted(file_digests.items()):
        digest.update(f"{table}:{name}:".encode())
        digest.update(file_digest)
    return digest.hexdigest()


def fingerprint(folder: Path, hash_file: HashFile = sha256_file) -> str:
    """sha256 over the names and bytes of the tables the join reads (nothing parsed; each file hashed
    by `hash_file`, streamed by default)."""
    return _combine({t: (p.name, bytes.fromhex(hash_file(p))) for t, p in table_files(folder).items()})


def table_schema(table: str) -> pa.DataFrameSchema:
    """pandera schema of one Kaggle table: its columns must be there and its primary key unique."""
    columns = {c: pa.Column(nullable=True, required=True) for c in COLUMNS[table]}
    return pa.DataFrameSchema(columns, unique=PRIMARY_KEYS.get(table), strict=False, name=TABLES[table])


def _key_report(errors: SchemaErrors, path: Path) -> str:
    cases = errors.failure_cases
    missing = cases.loc[cases["check"] == "column_in_dataframe", "failure_case"].tolist()
    if missing:
        return f"{path}: missing column(s) {missing}"
    duplicated = cases.loc[cases["check"].astype(str).str.contains("unique"), "index"].nunique()
    key = errors.schema.unique
    return f"{path}: {duplicated} row(s) share their primary key {key} with another row"


def read_tables(folder: Path, read: ReadFile = read_file) -> tuple[dict[str, pd.DataFrame], str]:
    """Read every present table once (`read` gives its bytes and their sha256); check its columns and
    primary-key uniqueness (pandera).

    Returns the tables and the folder's fingerprint over exactly the bytes that were parsed.
    """
    tables, digests = {}, {}
    for table, path in table_files(folder).items():
        data, digest = read(path)
        digests[table] = (path.name, bytes.fromhex(digest))
        df = read_csv_bytes(data, str(path))
        try:
            table_schema(table).validate(df, lazy=True)
        except SchemaErrors as errors:
            raise DataError(_key_report(errors, path)) from None
        tables[table] = df
    return tables, _combine(digests)


def _orphans(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    found = {}
    for child, column, parent, parent_column in REFERENCES:
        if child in tables and parent in tables:
            n = int((~tables[child][column].isin(tables[parent][parent_column])).sum())
            if n:
                found[f"{child}.{column} -> {parent}"] = n
    return found


def join(tables: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, JoinReport]:
    """Join the tables into the merged grain (see module docstring); report orphans."""
    report = JoinReport(rows_in={t: len(df) for t, df in tables.items()}, orphans=_orphans(tables))
    merged = (
        tables["orders"]
        .merge(tables["customers"], on="customer_id", how="inner", validate="many_to_one")
        .merge(tables["items"], on="order_id", how="inner")
        .merge(tables["payments"], on="order_id", how="inner")
        .merge(tables["reviews"], on="order_id", how="inner")
        .merge(tables["products"], on="product_id", how="left", validate="many_to_one")
    )
    extra = []
    if "sellers" in tables:
        merged = merged.merge(tables["sellers"], on="seller_id", how="left", validate="many_to_one")
        extra += ["seller_zip_code_prefix", "seller_city", "seller_state"]
    if "translation" in tables:
        merged = merged.merge(tables["translation"], on="product_category_name", how="left", validate="many_to_one")
        extra.append("product_category_name_english")
    if merged.empty:
        raise DataError("the Kaggle join produced no rows: no order has customer, items, payments and a review")
    report.rows_out = len(merged)
    return merged[[*MERGED_COLUMNS, *extra]].reset_index(drop=True), report


def load_kaggle(folder: Path, read: ReadFile = read_file) -> tuple[pd.DataFrame, JoinReport, str]:
    """Read, check and join a Kaggle download folder; also return the sha256 of what was read."""
    tables, digest = read_tables(folder, read)
    merged, report = join(tables)
    report.files = {t: p.name for t, p in table_files(folder).items()}
    return merged, report, digest
