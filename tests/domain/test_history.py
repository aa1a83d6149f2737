"""SellerHistory: the vectorised transform equals a brute-force reference (ties, missing dates, unseen
and missing sellers), no value uses information dated at or after the row's purchase, and the fitted
transformer survives pickle and skops."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as skops_io
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion

from olist_pipeline.domain.data.synthetic import generate_merged
from olist_pipeline.domain.history import FEATURES, HISTORY_INPUTS, REQUEST_INPUTS, SellerHistory

DAY = pd.Timedelta(days=1)
DATES = ["order_delivered_customer_date", "order_estimated_delivery_date", "review_answer_timestamp"]


def _ts(value: object) -> pd.Timestamp:
    return pd.to_datetime(value, errors="coerce", format="ISO8601")


# --- the reference: the definition, row by row --------------------------------------------------------
def reference(history: pd.DataFrame, y: np.ndarray, requests: pd.DataFrame) -> pd.DataFrame:
    """The three features by their definition, with python loops over (seller, order) records."""
    records: dict[tuple[str, str], dict] = {}
    for (_, row), score in zip(history.iterrows(), y):
        if pd.isna(row["seller_id"]) or pd.isna(row["order_id"]):
            continue
        r = records.setdefault((row["seller_id"], row["order_id"]), {"scores": [], **{c: [] for c in HISTORY_INPUTS[2:]}})
        for c in HISTORY_INPUTS[2:]:
            r[c].append(_ts(row[c]))
        if not np.isnan(score) and not pd.isna(_ts(row["review_answer_timestamp"])):  # undated scores: unused
            r["scores"].append(score)

    def latest(values: list) -> pd.Timestamp:
        known = [v for v in values if not pd.isna(v)]
        return max(known) if known else pd.NaT

    events = []  # (seller, purchase, delivered or NaT, late, answered or NaT, score)
    for (seller, _), r in records.items():
        purchase, delivered, estimated, answered = (latest(r[c]) for c in HISTORY_INPUTS[2:])
        if not pd.isna(purchase):  # a date before the order's own purchase is a data error: ignored
            delivered = pd.NaT if not pd.isna(delivered) and delivered < purchase else delivered
            answered = pd.NaT if not pd.isna(answered) and answered < purchase else answered
        if pd.isna(estimated):
            delivered = pd.NaT
        score = np.mean(r["scores"]) if r["scores"] else np.nan
        late = (not pd.isna(delivered)) and delivered > estimated
        events.append((seller, purchase, delivered, late, answered if r["scores"] else pd.NaT, score))

    seen = {e[0] for e in events} | set(history["seller_id"].dropna())
    out = []
    for _, row in requests.iterrows():
        seller, t = row["seller_id"], _ts(row["order_purchase_timestamp"])
        if pd.isna(seller) or pd.isna(t):
            out.append((np.nan, np.nan, np.nan))
            continue
        if seller not in seen:
            out.append((0.0, np.nan, np.nan))
            continue
        mine = [e for e in events if e[0] == seller]
        prior = sum(1 for e in mine if not pd.isna(e[1]) and e[1] < t)
        lates = [e[3] for e in mine if not pd.isna(e[2]) and e[2] < t]
        scores = [e[5] for e in mine if not pd.isna(e[4]) and e[4] < t]
        out.append((float(prior), np.mean(lates) if lates else np.nan, np.mean(scores) if scores else np.nan))
    return pd.DataFrame(out, columns=list(FEATURES), index=requests.index, dtype=np.float64)


def hand_made(seed: int = 0, n_orders: int = 120) -> tuple[pd.DataFrame, np.ndarray]:
    """Orders on a few whole days (many ties between purchases, deliveries and answers), with missing
    dates, multi-row and multi-seller orders whose rows may differ in review (as with several reviews),
    missing sellers, and impossible dates (delivered or answered before the purchase)."""
    rng = np.random.default_rng(seed)
    day0 = pd.Timestamp("2018-01-01")
    rows = []
    for o in range(n_orders):
        purchase = day0 + int(rng.integers(0, 30)) * DAY
        delivered = purchase + int(rng.integers(-2, 12)) * DAY  # sometimes before the purchase: a data error
        estimated = purchase + int(rng.integers(3, 10)) * DAY
        answered = delivered + int(rng.integers(-3, 4)) * DAY
        score = int(rng.integers(1, 6))
        drop = rng.random(4) < [0.05, 0.15, 0.1, 0.15]
        sellers = rng.choice(["s1", "s2", "s3", "s4", "s5"], size=int(rng.integers(1, 4)))
        for seller in sellers:
            rows.append(
                {
                    "seller_id": None if rng.random() < 0.03 else seller,
                    "order_id": f"o{o}",
                    "order_purchase_timestamp": None if drop[0] else str(purchase),
                    "order_delivered_customer_date": None if drop[1] else str(delivered),
                    "order_estimated_delivery_date": None if drop[2] else str(estimated),
                    # Now and then a row of its own: another review (score, answer) or none, an undated one.
                    "review_answer_timestamp": None if drop[3] or rng.random() < 0.05 else str(answered + int(rng.integers(0, 2)) * DAY),
                    "review_score": float(score + int(rng.integers(-1, 2))) if rng.random() > 0.03 else np.nan,
                }
            )
    frame = pd.DataFrame(rows)
    return frame[list(HISTORY_INPUTS)], frame["review_score"].to_numpy()


def requests_for(history: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """The history's own rows, plus requests at event times (ties), for an unseen and a missing seller,
    and without a purchase time."""
    rng = np.random.default_rng(seed)
    times = pd.concat([history[c] for c in HISTORY_INPUTS[2:]]).dropna().to_numpy()
    extra = pd.DataFrame(
        {
            "seller_id": rng.choice(np.array(["s1", "s2", "s3", "s4", "s5", "unseen", None], dtype=object), size=60),
            "order_purchase_timestamp": rng.choice(times, size=60),
        }
    )
    extra.loc[::13, "order_purchase_timestamp"] = None
    return pd.concat([history[list(REQUEST_INPUTS)], extra], ignore_index=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_transform_equals_the_reference(seed):
    history, y = hand_made(seed)
    requests = requests_for(history, seed)
    actual = SellerHistory().fit(history, y).transform(requests)
    expected = reference(history, y, requests)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-12)
    assert actual[FEATURES[0]].max() > 5 and actual[FEATURES[1]].notna().sum() > 50  # a real test


def test_transform_reads_only_the_request_columns_and_names_its_features():
    history, y = hand_made()
    fitted = SellerHistory().fit(history, y)
    pd.testing.assert_frame_equal(fitted.transform(history[list(REQUEST_INPUTS)]), fitted.transform(history))
    assert list(fitted.get_feature_names_out()) == list(FEATURES)
    assert all(fitted.transform(history.head(3)).dtypes == np.float64)
    with pytest.raises(ValueError, match="needs y"):
        SellerHistory().fit(history, None)
    with pytest.raises(ValueError, match="review_answer_timestamp"):
        SellerHistory().fit(history.drop(columns="review_answer_timestamp"), y)


def test_stores_one_record_per_seller_and_order():
    orders = generate_merged(300, seed=5)
    fitted = SellerHistory().fit(orders, orders["review_score"])
    pairs = orders[["seller_id", "order_id"]].drop_duplicates()
    assert len(fitted.purchases_.times) == len(pairs) < len(orders)


# --- leakage ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return generate_merged(1500, seed=11)


def _rows_with_history(orders: pd.DataFrame, n: int = 6) -> list[int]:
    """Rows spread over time whose three features all have a value, with a late share above 0, and
    with many orders purchased after them."""
    out = SellerHistory().fit(orders, orders["review_score"]).transform(orders)
    eligible = out[(out[FEATURES[0]] >= 3) & (out[FEATURES[1]] > 0) & out[FEATURES[2]].notna()].index
    by_time = eligible[np.argsort(_ts(orders.loc[eligible, "order_purchase_timestamp"]).to_numpy(), kind="stable")]
    return list(by_time[np.linspace(0, 0.8 * (len(by_time) - 1), n).astype(int)])


def _features_of(history: pd.DataFrame, row: pd.DataFrame) -> np.ndarray:
    return SellerHistory().fit(history, history["review_score"]).transform(row).to_numpy()


def test_no_feature_uses_information_dated_at_or_after_the_purchase(orders):
    """Scramble everything known about every order purchased at or after the row's purchase (its own
    order included): reviews, delivery, estimated and answer dates (to any date, before the row's
    purchase too), purchase times (among themselves, so still at or after), and add as many orders
    again, copies of those with new ids. The row's features must not move."""
    rng = np.random.default_rng(0)
    rows = _rows_with_history(orders)
    assert len(rows) >= 5
    purchase = _ts(orders["order_purchase_timestamp"])
    for i in rows:
        row = orders.loc[[i]]
        later = (purchase >= purchase[i]).to_numpy()
        assert later.sum() > 100
        copies = orders[later].assign(order_id=lambda f: f["order_id"] + "-copy")
        scrambled = pd.concat([orders, copies], ignore_index=True)
        later = np.r_[later, np.ones(len(copies), dtype=bool)]
        n = int(later.sum())
        scrambled.loc[later, "review_score"] = rng.integers(1, 6, size=n)
        scrambled.loc[later, "order_purchase_timestamp"] = rng.permutation(scrambled.loc[later, "order_purchase_timestamp"].to_numpy())
        for c in DATES:
            dates = pd.Timestamp("2016-06-01") + pd.to_timedelta(rng.integers(0, 900 * 86400, size=n), unit="s")
            scrambled.loc[later, c] = pd.Series(dates.astype(str), index=scrambled.index[later]).where(rng.random(n) > 0.2)
        np.testing.assert_array_equal(_features_of(scrambled, row), _features_of(orders, row), err_msg=f"row {i}")


def test_earlier_orders_do_change_the_features(orders):
    """The converse: what the seller's earlier orders did is what the features read."""
    rows = _rows_with_history(orders)
    purchase = _ts(orders["order_purchase_timestamp"])
    for i in rows:
        row = orders.loc[[i]]
        before = _features_of(orders, row)[0]
        earlier = ((purchase < purchase[i]) & (orders["seller_id"] == orders.loc[i, "seller_id"])).to_numpy()
        changed = orders.copy()
        changed.loc[earlier, "review_score"] += 10
        changed.loc[earlier, "order_estimated_delivery_date"] = "2030-01-01 00:00:00"  # none late
        after = _features_of(changed, row)[0]
        assert after[0] == before[0] and after[1] == 0 < before[1] and after[2] == pytest.approx(before[2] + 10)
        one_less = orders.drop(index=orders.index[earlier & (orders["order_id"] == orders.loc[earlier, "order_id"].iloc[0]).to_numpy()])
        assert _features_of(one_less, row)[0][0] == before[0] - 1


# --- persistence and composition ------------------------------------------------------------------
def test_fitted_transformer_round_trips(orders):
    fitted = SellerHistory().fit(orders, orders["review_score"])
    expected = fitted.transform(orders)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(fitted)).transform(orders), expected)
    # The project saves models with skops, which trusts only our own, scikit-learn's and numpy's types.
    data = skops_io.dumps(fitted)
    trusted = skops_io.get_untrusted_types(data=data)
    assert all(t.startswith("olist_pipeline.") for t in trusted)
    pd.testing.assert_frame_equal(skops_io.loads(data, trusted=trusted).transform(orders), expected)
    assert not hasattr(clone(fitted), "sellers_")


def test_fit_transform_in_a_feature_union_gets_y(orders):
    union = FeatureUnion([("history", SellerHistory())])
    out = union.fit_transform(orders, orders["review_score"])
    assert out.shape == (len(orders), 3) and list(union.get_feature_names_out()) == [f"history__{f}" for f in FEATURES]
