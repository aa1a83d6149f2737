"""OrderFeatures.transform gives, bit for bit, what its plain pandas version gave before the per-frame
column cache (kept below as the reference): every feature set, on the sample and the real data, whole,
one row at a time and order by order, and on the inputs where pandas' rules are subtle (missing and
unparsable timestamps, mixed resolutions, differences beyond 2**53 ticks, numbers as strings, time
zones, overflow). Where the reference raises, the transform raises the same error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from olist_pipeline.domain.data.olist import MERGED_COLUMNS

from olist_pipeline.domain.features import DERIVED, GROUP_KEY, OrderFeatures
from olist_pipeline.paths import PROJECT_ROOT

from tests.conftest import SAMPLE, real_file

# The Olist feature sets written out in full (their columns are the merged table's, or the Kaggle
# join's; a set extending another through a defaults list adds fitted features, tested elsewhere).
FEATURE_SETS = {
    path.stem: spec
    for path in sorted((PROJECT_ROOT / "conf" / "features").glob("*.yaml"))
    if "numeric" in (spec := yaml.safe_load(path.read_text())) and set(spec["numeric"]) <= set(MERGED_COLUMNS)
}
TIMESTAMPS = [
    "order_purchase_timestamp",
    "order_approved_at",
    "order_delivered_carrier_date",
    "order_delivered_customer_date",
    "order_estimated_delivery_date",
]


# --- the reference: features.py's derivation and OrderFeatures.transform before the speed-up ----------
def _ts(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(df[column], errors="coerce", format="ISO8601")


def _days_between(df: pd.DataFrame, start: str, end: str) -> pd.Series:
    return (_ts(df, end) - _ts(df, start)).dt.total_seconds() / 86400.0


def _per_order(df: pd.DataFrame, column: str) -> pd.Series:
    if df[GROUP_KEY].is_unique:
        return df[column].notna().astype(float)
    return df.groupby(GROUP_KEY, sort=False)[column].transform("nunique").astype(float)


REFERENCE = {
    "delivery_days": lambda df: _days_between(df, "order_purchase_timestamp", "order_delivered_customer_date"),
    "estimated_delivery_days": lambda df: _days_between(df, "order_purchase_timestamp", "order_estimated_delivery_date"),
    "delivery_delay_days": lambda df: _days_between(df, "order_estimated_delivery_date", "order_delivered_customer_date"),
    "is_late": lambda df: (
        _days_between(df, "order_estimated_delivery_date", "order_delivered_customer_date") > 0
    ).astype(float),
    "is_undelivered": lambda df: df["order_delivered_customer_date"].isna().astype(float),
    "approval_lag_hours": lambda df: _days_between(df, "order_purchase_timestamp", "order_approved_at") * 24,
    "carrier_lag_days": lambda df: _days_between(df, "order_approved_at", "order_delivered_carrier_date"),
    "items_per_order": lambda df: _per_order(df, "order_item_id"),
    "sellers_per_order": lambda df: _per_order(df, "seller_id"),
    "payments_per_order": lambda df: _per_order(df, "payment_sequential"),
    "seller_in_customer_state": lambda df: (
        (df["customer_state"] == df["seller_state"]).astype(float).where(df["seller_state"].notna())
    ),
    "purchase_weekday": lambda df: _ts(df, "order_purchase_timestamp").dt.dayofweek.astype(float),
    "freight_ratio": lambda df: df["freight_value"] / (df["price"] + df["freight_value"]).replace(0, np.nan),
}


def reference_transform(X: pd.DataFrame, numeric: list[str], derived: list[str], categorical: list[str]) -> pd.DataFrame:
    out = {c: pd.to_numeric(X[c], errors="coerce").astype(float) for c in numeric}
    for name in derived:
        out[name] = REFERENCE[name](X).astype(float)
    for c in categorical:
        out[c] = X[c].astype(object).where(X[c].notna(), "missing").astype(str)
    return pd.DataFrame(out, index=X.index)


def test_the_reference_covers_every_derived_feature():
    assert set(REFERENCE) == set(DERIVED)


# --- comparison -------------------------------------------------------------------------------------
def _outcome(transform, X: pd.DataFrame) -> pd.DataFrame | tuple[type, str]:
    try:
        return transform(X)
    except Exception as error:  # the reference's error is an outcome to reproduce, not a test failure
        return type(error), str(error)


def assert_same_as_reference(X: pd.DataFrame, feature_set: str) -> None:
    """Same columns, order, dtypes, index and float bits (NaN payloads included), or the same error."""
    spec = FEATURE_SETS[feature_set]
    parts = spec["numeric"], spec["derived"], spec["categorical"]
    expected = _outcome(lambda frame: reference_transform(frame, *parts), X)
    actual = _outcome(OrderFeatures(*parts).transform, X)
    if isinstance(expected, tuple):
        assert actual == expected, f"{feature_set}: the reference raised {expected}"
        return
    assert isinstance(actual, pd.DataFrame), f"{feature_set}: raised {actual}, the reference did not"
    pd.testing.assert_frame_equal(
        actual, expected, check_exact=True, check_index_type=True, check_column_type=True, check_flags=True
    )
    for column in expected.columns[expected.dtypes == np.float64]:
        bits, expected_bits = (frame[column].to_numpy().view(np.uint64) for frame in (actual, expected))
        assert np.array_equal(bits, expected_bits), f"{feature_set}: {column} differs in its float bits"


def _with_kaggle_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The two columns only the Kaggle download carries, made up from the sample's own (some missing)."""
    states = df["customer_state"].to_numpy(dtype=object).copy()
    states[::3] = np.roll(states, 1)[::3]  # some sellers in another state
    states[::11] = None
    return df.assign(
        seller_state=pd.Series(states, index=df.index, dtype="str"),
        product_category_name_english=df["product_category_name"].str.replace("_", " "),
    )


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return _with_kaggle_columns(pd.read_csv(SAMPLE, low_memory=False))


# --- the sample and the real data -------------------------------------------------------------------
@pytest.mark.parametrize("feature_set", sorted(FEATURE_SETS))
def test_whole_sample_matches_the_reference(sample, feature_set):
    assert_same_as_reference(sample, feature_set)


@pytest.mark.parametrize(("feature_set", "n_rows"), [("delivery", 40), ("kaggle", 15), ("seed", 5)])
def test_single_rows_match_the_reference(sample, feature_set, n_rows):
    """One-row requests: the serving case, where each order's counts skip the groupby."""
    for position in np.linspace(0, len(sample) - 1, n_rows).astype(int):
        assert_same_as_reference(sample.iloc[[position]], feature_set)


@pytest.mark.parametrize("feature_set", ["delivery", "kaggle"])
def test_small_orders_match_the_reference(sample, feature_set):
    """All rows of an order sent together (several items, sellers or payments), alone and a few at once."""
    sizes = sample.groupby(GROUP_KEY, sort=False).size()
    multi_row = sizes[sizes > 1].index[:12]
    for order_id in multi_row:
        assert_same_as_reference(sample[sample[GROUP_KEY] == order_id], feature_set)
    assert_same_as_reference(sample[sample[GROUP_KEY].isin(multi_row[:4]) | sample.index.isin([3, 9])], feature_set)


@pytest.mark.real_data
def test_real_merged_table_matches_the_reference():
    real = _with_kaggle_columns(pd.read_csv(real_file("merged", "olist_customers_dataset.csv.gz"), low_memory=False))
    for feature_set in FEATURE_SETS:
        assert_same_as_reference(real, feature_set)
        assert_same_as_reference(real.iloc[[7]], feature_set)


# --- inputs where pandas' rules are subtle ----------------------------------------------------------
def _edge_rows() -> pd.DataFrame:
    """Nine orders (one of two rows), one per line: what the timestamp columns may hold."""
    rows = [
        # purchase, approved, carrier, delivered, estimated
        ("2017-01-02 10:00:00", "2017-01-02 10:30:00", "2017-01-04", "2017-01-10 08:00:00", "2017-01-12"),
        (None, "2017-01-02 10:30:00", None, "2017-01-10 08:00:00", "2017-01-12"),  # missing
        ("", "not a date", "2017-13-45 00:00:00", "", "2017-01-12"),  # unparsable: NaT
        ("2017-01-02 10:00:00.5", "2017-01-02 10:00:00.123456", None, "2017-01-10T08:00:00", "2017-01-12"),
        # sub-second parts; the approval column holds nanoseconds, so parses at [ns] and the others at [us]
        ("2017-01-02 00:00:00", "2017-08-01 00:00:00.000000001", "2017-08-02", "2017-08-03", "2017-08-03"),
        ("2017-01-02 00:00:00", "2017-08-01 00:00:00.999999999", "2017-08-02", "2017-08-03", "2017-08-03"),
        # above 2**53 ns apart with a nanosecond part: pandas nudges the float off the whole second
        ("1800-01-01 00:00:00", "2017-01-01 00:00:00.000000001", "2017-01-03", None, "1800-02-01"),
        ("2017-05-06 23:59:59", "2017-05-06 23:59:59", "2017-05-06 23:59:59", "2017-05-06 23:59:59", "2017-05-06"),
        ("2018-03-01 12:00:00", "2018-03-01 12:10:00", "2018-03-02", "2018-03-20 00:00:00", "2018-03-15"),
        ("2018-03-01 12:00:00", "2018-03-01 12:10:00", "2018-03-02", "2018-03-20 00:00:00", "2018-03-15"),
    ]
    frame = pd.DataFrame(rows, columns=TIMESTAMPS, dtype="str")
    n = len(frame)
    return frame.assign(
        order_id=[f"o{i}" for i in range(n - 1)] + [f"o{n - 2}"],
        order_item_id=[1, 1, 2, 1, 1, 1, 1, 1, 1, 2],
        seller_id=pd.Series(["s1", "s2", None, "s1", "s3", "s1", "s1", "s2", "s1", "s2"], dtype="str"),
        payment_sequential=[1, 1, 1, 2, 1, 1, 1, 1, 1, 1],
        price=[10.0, 0.0, np.nan, 5.5, 1e308, np.inf, -3.0, 0.0, 20.0, 20.0],
        freight_value=[2.5, 0.0, 1.0, np.nan, 1e308, np.inf, 3.0, -0.0, 4.0, 4.0],
        payment_installments=[1, 2, 3, 1, 1, 10, 1, 1, 2, 2],
        payment_value=[12.5, 0.0, np.nan, 5.5, 1.0, 2.0, 0.0, 0.0, 24.0, 24.0],
        payment_type=pd.Series(["credit_card", "boleto", None, "voucher", "pix", None, "x", "y", "z", "z"], dtype="str"),
        customer_state=pd.Series(["SP", "RJ", "SP", None, "MG", "SP", "SP", "RJ", "BA", "BA"], dtype="str"),
        seller_state=pd.Series(["SP", "SP", None, None, "MG", "RJ", "SP", None, "BA", "SP"], dtype="str"),
        product_category_name_english=pd.Series(["toys", None, "a b", "", "toys", "x", "y", "z", "w", "w"], dtype="str"),
        **{
            column: [1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0]
            for column in FEATURE_SETS["delivery"]["numeric"]
            if column.startswith("product_")
        },
    )


def _variants(edge: pd.DataFrame) -> dict[str, pd.DataFrame]:
    numeric = [c for c in FEATURE_SETS["seed"]["numeric"] if c not in ("price", "freight_value")]  # see below
    as_text = edge.assign(**{c: edge[c].astype(object).where(edge[c].notna(), None).astype(str) for c in numeric})
    as_text.loc[[1, 4], "payment_value"] = ["", "abc"]
    as_objects = edge.astype({c: object for c in numeric})
    as_objects.loc[2, "product_photos_qty"] = None
    parsed = edge.assign(
        order_purchase_timestamp=_ts(edge, "order_purchase_timestamp").astype("M8[s]"),
        order_approved_at=_ts(edge, "order_approved_at"),  # [ns]
        order_estimated_delivery_date=_ts(edge, "order_estimated_delivery_date").astype("M8[ms]"),
    )
    offsets = ["+02:00", "Z", "-03:00", "+00:00", "+05:30"]  # one per column: aware minus aware, across zones
    with_time = {c: edge[c].mask(edge[c].str.len() == 10, edge[c] + " 00:00:00") for c in TIMESTAMPS}
    zoned = edge.assign(**{c: with_time[c].str.replace(" ", "T") + offset for c, offset in zip(TIMESTAMPS, offsets)})
    as_ints = edge.assign(
        price=[10, 0, 3, 5, 1, 2, -3, 0, 20, 20],
        freight_value=[2, 0, 1, 4, 1, 2, 3, 0, 4, 4],
        payment_installments=edge["payment_installments"].astype("Int64").mask(edge.index == 3),
        payment_value=edge["payment_value"].astype("Float64"),
        product_photos_qty=edge["product_photos_qty"].astype(np.float32),
        product_weight_g=edge["product_weight_g"] > 3,
        payment_sequential=edge["payment_sequential"].astype("Int64").mask(edge.index == 0),
    )
    return {
        "as given": edge,
        "one row per order": edge.iloc[:-1],  # the counts' path without a groupby, a seller missing
        "one row per order, counts nullable": as_ints.iloc[:-1],
        "timestamps as object": edge.astype({c: object for c in TIMESTAMPS}),
        "one row": edge.iloc[[4]],
        "no rows": edge.iloc[[]],
        "all timestamps missing": edge.assign(**{c: pd.Series([None] * len(edge), dtype="str") for c in TIMESTAMPS}),
        "all timestamps missing, one row": edge.assign(**{c: np.nan for c in TIMESTAMPS}).iloc[[0]],
        "one column all missing ([s]) against one in [ns]": edge.assign(order_delivered_carrier_date=None),
        "numbers as text": as_text,
        "numbers as objects": as_objects,
        "numbers as ints and nullable": as_ints,
        # the reference's freight ratio raises on text; seed (no derived features) converts the numbers
        "price and freight as text": edge.assign(**{c: edge[c].astype(str) for c in ("price", "freight_value")}),
        "categories of other kinds": edge.assign(
            payment_type=pd.Series(["a", None, np.nan, 3, 2.5, "b", "c", "d", "e", "e"], dtype=object),
            customer_state=edge["customer_state"].astype(pd.StringDtype("python", na_value=np.nan)),
            seller_state=edge["seller_state"].astype(pd.StringDtype()),  # missing is pd.NA
            product_category_name_english=edge["product_category_name_english"].astype("category"),
        ),
        "parsed timestamps of three units": parsed,
        "time zones": zoned,
        "mixed time zones in a column": edge.assign(
            order_approved_at=(edge["order_approved_at"] + pd.Series(["+01:00", "+03:00"] * 5)).str.replace(" ", "T")
        ),
        "duplicate index": edge.set_axis([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]),
        "text index": edge.set_axis([f"r{i}" for i in range(len(edge))]),
        # pandas raises on these; the transform must raise the same error
        "aware minus naive": edge.assign(order_purchase_timestamp="2017-01-01T00:00:00+02:00"),
        "difference beyond int64 nanoseconds": edge.assign(
            order_purchase_timestamp="1700-01-01 00:00:00.000000001", order_approved_at="2260-01-01 00:00:00.000000001"
        ),
        "microseconds beyond the nanosecond range": edge.assign(order_purchase_timestamp="2500-01-01 00:00:00"),
    }


EDGE_VARIANTS = _variants(_edge_rows())


@pytest.mark.parametrize("variant", list(EDGE_VARIANTS))
def test_edge_inputs_match_the_reference(variant):
    for feature_set in FEATURE_SETS:
        assert_same_as_reference(EDGE_VARIANTS[variant], feature_set)


def test_edge_inputs_reach_the_subtle_cases():
    """The edge rows hold what they are meant to: mixed units, floats pandas nudges, pandas' errors."""
    edge = EDGE_VARIANTS["as given"]
    units = {c: _ts(edge, c).dt.unit for c in TIMESTAMPS}
    assert units["order_approved_at"] == "ns" and units["order_purchase_timestamp"] == "us"
    assert _ts(EDGE_VARIANTS["one column all missing ([s]) against one in [ns]"], "order_delivered_carrier_date").dt.unit == "s"
    # 211 days and 1 ns (or 1 s - 1 ns): above 2**53 ns the float rounds onto the whole second, and
    # pandas moves it one step back inside
    seconds = (_ts(edge, "order_approved_at") - _ts(edge, "order_purchase_timestamp")).dt.total_seconds()
    assert seconds[4] == np.nextafter(18230400.0, np.inf) and seconds[5] == np.nextafter(18230401.0, 0)
    approval_lag = lambda frame: reference_transform(frame, [], ["approval_lag_hours"], [])  # noqa: E731
    for variant in ("aware minus naive", "difference beyond int64 nanoseconds", "microseconds beyond the nanosecond range"):
        assert isinstance(_outcome(approval_lag, EDGE_VARIANTS[variant]), tuple), variant


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_each_derived_feature_computes_from_a_frame(sample, name):
    """`DERIVED[name].compute(df)` (the registry's documented use) is the reference's column, as float."""
    for frame in (sample, sample.iloc[[11]], EDGE_VARIANTS["as given"]):
        expected = REFERENCE[name](frame).astype(float)
        pd.testing.assert_series_equal(DERIVED[name].compute(frame), expected, check_exact=True, check_names=False)
