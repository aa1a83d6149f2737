"""The Kaggle folder: table discovery, key checks, orphan report, and the join's grain."""

from pathlib import Path

import pandas as pd
import pytest

from olist_pipeline.domain.data import loaders
from olist_pipeline.domain.data.kaggle import TABLES, load_kaggle
from olist_pipeline.domain.data.olist import MERGED_COLUMNS, validate_merged
from olist_pipeline.domain.data.synthetic import generate_merged, to_kaggle_tables
from olist_pipeline.errors import DataError

from tests.conftest import real_file

KEY = ["order_id", "order_item_id", "payment_sequential", "review_id"]


def write_kaggle_folder(folder: Path, merged: pd.DataFrame, gzip_some: bool = True) -> Path:
    """A Kaggle-style download folder from a merged frame (some tables gzipped, as users have them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (stem, table) in enumerate(to_kaggle_tables(merged).items()):
        if gzip_some and i % 2:
            table.to_csv(folder / f"{stem}.csv.gz", index=False)
        else:
            table.to_csv(folder / f"{stem}.csv", index=False)
    return folder


@pytest.fixture()
def merged() -> pd.DataFrame:
    return validate_merged(generate_merged(300, seed=13))[0]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df[MERGED_COLUMNS].sort_values(KEY).reset_index(drop=True)


def test_join_gives_back_the_merged_grain(tmp_path, merged):
    folder = write_kaggle_folder(tmp_path / "kaggle", merged)
    joined, report, digest = load_kaggle(folder)
    pd.testing.assert_frame_equal(_sorted(validate_merged(joined)[0]), _sorted(merged))
    assert report.orphans == {} and report.rows_out == len(merged)
    assert digest == loaders.fingerprint("kaggle_folder", folder)  # same sha256, streamed or parsed
    assert report.files["orders"] == "olist_orders_dataset.csv"


def test_orphans_are_dropped_and_reported(tmp_path, merged):
    folder = write_kaggle_folder(tmp_path / "kaggle", merged, gzip_some=False)
    orders = pd.read_csv(folder / "olist_orders_dataset.csv")
    dropped = orders["order_id"].iloc[:10]
    orders.iloc[10:].to_csv(folder / "olist_orders_dataset.csv", index=False)
    joined, report, digest = load_kaggle(folder)
    assert not joined["order_id"].isin(dropped).any()
    assert report.orphans["items.order_id -> orders"] == int(merged.drop_duplicates(["order_id", "order_item_id"])["order_id"].isin(dropped).sum())
    assert "reviews.order_id -> orders" in report.orphans


def test_missing_table_is_named(tmp_path, merged):
    folder = write_kaggle_folder(tmp_path / "kaggle", merged, gzip_some=False)
    (folder / "olist_order_payments_dataset.csv").unlink()
    with pytest.raises(DataError, match=r"missing Kaggle table\(s\) \['olist_order_payments_dataset.csv'\]"):
        loaders.fingerprint("kaggle_folder", folder)


def test_missing_column_and_duplicate_keys(tmp_path, merged):
    folder = write_kaggle_folder(tmp_path / "kaggle", merged, gzip_some=False)
    products = pd.read_csv(folder / "olist_products_dataset.csv")
    products.drop(columns=["product_weight_g"]).to_csv(folder / "olist_products_dataset.csv", index=False)
    with pytest.raises(DataError, match=r"olist_products_dataset.csv: missing column\(s\) \['product_weight_g'\]"):
        load_kaggle(folder)
    pd.concat([products, products.head(2)]).to_csv(folder / "olist_products_dataset.csv", index=False)
    with pytest.raises(DataError, match=r"4 row\(s\) share their primary key \[.product_id.\] with another row"):
        load_kaggle(folder)


def test_not_a_folder(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        loaders.fingerprint("kaggle_folder", tmp_path / "nope")


def test_fingerprint_changes_with_any_table(tmp_path, merged):
    folder = write_kaggle_folder(tmp_path / "kaggle", merged, gzip_some=False)
    before = loaders.fingerprint("kaggle_folder", folder)
    with open(folder / "olist_order_reviews_dataset.csv", "a") as fh:
        fh.write("")
    assert loaders.fingerprint("kaggle_folder", folder) == before
    reviews = pd.read_csv(folder / "olist_order_reviews_dataset.csv")
    reviews.iloc[:-1].to_csv(folder / "olist_order_reviews_dataset.csv", index=False)
    assert loaders.fingerprint("kaggle_folder", folder) != before


@pytest.mark.real_data
def test_real_kaggle_folder_joins_to_the_real_merged_table():
    folder = real_file("kaggle", f"{TABLES['orders']}.csv.gz").parent
    joined, report, digest = load_kaggle(folder)
    merged = validate_merged(pd.read_csv(real_file("merged", "olist_customers_dataset.csv.gz"), low_memory=False))[0]
    pd.testing.assert_frame_equal(_sorted(validate_merged(joined)[0]), _sorted(merged))
    # the orders table is a real subset: items and payments of the other orders are reported, not joined
    assert report.orphans["items.order_id -> orders"] > 0 and report.rows_out == 18485
    assert {"seller_state", "product_category_name_english"} <= set(joined.columns)
