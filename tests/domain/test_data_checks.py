"""Reading and validating input: every bad-input case gets one DataError naming file/column/problem."""

import gzip
from pathlib import Path

import pandas as pd
import pytest

from olist_pipeline.domain.data import loaders
from olist_pipeline.domain.data.io import load_table, read_csv_bytes
from olist_pipeline.domain.data.olist import validate_merged
from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.errors import DataError

from tests.conftest import real_file


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return generate_merged(200, seed=5)


def _fails(df: pd.DataFrame, *fragments: str) -> None:
    with pytest.raises(DataError) as err:
        validate_merged(df, source="input.csv")
    message = str(err.value)
    assert message.startswith("input.csv")
    for fragment in fragments:
        assert fragment in message, message


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_table(tmp_path / "nope.csv")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load_table(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_table(tmp_path / "e.csv")


def test_header_only(good):
    with pytest.raises(DataError, match="no rows"):
        read_csv_bytes(",".join(good.columns).encode() + b"\n", "h.csv")


def test_binary_file():
    with pytest.raises(DataError, match="not a CSV"):
        read_csv_bytes(bytes(range(256)) * 20, "b.csv")


def test_corrupt_gzip(tmp_path, good):
    data = gzip.compress(good.to_csv(index=False).encode())
    with pytest.raises(DataError, match="corrupt gzip"):
        read_csv_bytes(data[: len(data) // 2], "c.csv.gz")


def test_gzip_and_bom_are_read(good):
    data = b"\xef\xbb\xbf" + good.to_csv(index=False).encode()
    df = read_csv_bytes(gzip.compress(data), "bom.csv.gz")
    assert list(df.columns) == list(good.columns)


def test_not_utf8_names_byte_and_line(good):
    lines = good.head(3).to_csv(index=False).encode().split(b"\n")
    lines[2] = b"\xff" + lines[2]  # a byte that opens no UTF-8 character, at the start of line 3
    offset = len(lines[0]) + len(lines[1]) + 2
    with pytest.raises(DataError, match=rf"latin\.csv: not UTF-8 CSV text \(invalid start byte at byte {offset}, line 3\)"):
        read_csv_bytes(b"\n".join(lines), "latin.csv")


def test_fingerprint_mismatch(tmp_path, good):
    path = tmp_path / "d.csv"
    good.to_csv(path, index=False)
    df, digest = load_table(path)
    assert len(digest) == 64 and len(df) == len(good)
    with pytest.raises(DataError, match="content changed"):
        loaders.load("csv", path, expected_sha256="0" * 64)


def test_missing_columns(good):
    _fails(good.drop(columns=["price", "review_score"]), "missing column", "'price'", "'review_score'")


def test_target_out_of_range(good):
    bad = good.copy()
    bad.loc[bad.index[:3], "review_score"] = 7
    _fails(bad, "'review_score'", "isin", "3 row(s)", "7")


def test_wrong_dtype(good):
    bad = good.astype({"price": object})
    bad.loc[bad.index[4], "price"] = "abc"
    _fails(bad, "'price'", "coerce_dtype('float64')", "'abc'")


def test_negative_values_and_bad_timestamps(good):
    bad = good.astype({"order_purchase_timestamp": object})
    bad.loc[bad.index[0], "freight_value"] = -1.0
    bad.loc[bad.index[1], "order_purchase_timestamp"] = "yesterday"
    _fails(bad, "'freight_value'", "greater_than_or_equal_to(0)", "'order_purchase_timestamp'", "timestamp parseable")


def test_empty_frame(good):
    _fails(good.iloc[:0], "no rows")


def test_soft_problems_are_warnings_not_errors(good):
    odd = good.copy()
    odd.loc[odd.index[0], "order_delivered_customer_date"] = "2010-01-01 00:00:00"
    _, report = validate_merged(odd)
    assert report.warnings == {"delivered before purchase": 1}


def test_inference_input_needs_no_target(good):
    validate_merged(good.drop(columns=["review_score"]), require_target=False)


@pytest.mark.real_data
def test_real_merged_table_passes():
    df, _ = load_table(real_file("merged", "olist_customers_dataset.csv.gz"))
    validated, report = validate_merged(df, source="real merged")
    assert report.rows == 18485 and validated.shape[1] == 36


def test_pinned_sha256_is_enforced_before_any_work(tmp_path, good):
    from olist_pipeline.runs.common import fingerprint_dataset

    path = tmp_path / "d.csv"
    good.to_csv(path, index=False)
    digest = fingerprint_dataset("csv", path, None)
    assert fingerprint_dataset("csv", path, digest) == digest
    with pytest.raises(DataError, match="does not match dataset.sha256"):
        fingerprint_dataset("csv", path, "f" * 64)


def test_inference_schema_needs_no_review_columns():
    from olist_pipeline.domain.data.olist import TARGET_AND_LEAKY_COLUMNS, validate_merged
    from olist_pipeline.domain.data.synthetic import generate_merged

    rows = generate_merged(40, seed=5).drop(columns=sorted(TARGET_AND_LEAKY_COLUMNS))
    validated, _ = validate_merged(rows, source="new_orders.csv", require_target=False)
    assert len(validated) == len(rows)
    with pytest.raises(DataError, match="review_score"):
        validate_merged(rows, source="new_orders.csv")
