"""A deterministic generator of synthetic orders in the exact 36-column merged Olist schema.

No real data goes in: distributions are hand-set to look like the public dataset (multi-item and
multi-payment orders, undelivered orders without delivery dates, products without category, comments
with line breaks, review_score shares near 57/19/8/3/12 % for 5/4/3/2/1 stars). The score carries a
learnable signal: late or missing delivery, several sellers and high freight lower it.
Vectorised with numpy, so it scales to millions of rows for benchmarks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from olist_pipeline.domain.data.olist import MERGED_COLUMNS

# Target review_score shares, from 1 to 5 stars.
SCORE_SHARES = np.array([0.12, 0.03, 0.08, 0.19, 0.58])

_STATES = np.array(["SP", "RJ", "MG", "RS", "PR", "SC", "BA", "DF", "GO", "ES", "PE", "CE"])
_STATE_P = np.array([0.42, 0.13, 0.12, 0.055, 0.05, 0.037, 0.034, 0.022, 0.02, 0.02, 0.017, 0.015])
_CITIES = {
    "SP": ["sao paulo", "campinas", "guarulhos", "santos"],
    "RJ": ["rio de janeiro", "niteroi", "nova iguacu"],
    "MG": ["belo horizonte", "uberlandia", "contagem"],
    "RS": ["porto alegre", "caxias do sul"],
    "PR": ["curitiba", "londrina"],
    "SC": ["florianopolis", "joinville"],
    "BA": ["salvador", "feira de santana"],
    "DF": ["brasilia"],
    "GO": ["goiania"],
    "ES": ["vitoria", "vila velha"],
    "PE": ["recife"],
    "CE": ["fortaleza"],
}
_CATEGORIES = np.array(
    [
        "cama_mesa_banho", "beleza_saude", "moveis_decoracao", "esporte_lazer",
        "informatica_acessorios", "utilidades_domesticas", "relogios_presentes", "telefonia",
        "ferramentas_jardim", "automotivo", "brinquedos", "cool_stuff", "perfumaria", "bebes",
        "eletronicos", "papelaria", "fashion_bolsas_e_acessorios", "pet_shop",
    ]
)
_STATUS = np.array(["delivered", "shipped", "canceled", "invoiced", "processing", "unavailable"])
_STATUS_P = np.array([0.972, 0.011, 0.006, 0.004, 0.004, 0.003])
_COMMENTS = np.array(
    [
        "Produto chegou antes do prazo, recomendo.",
        "Muito bom!",
        "Entrega muito demorada,\nainda aguardo o restante do pedido.",
        "Nao recebi o produto.",
        "Veio diferente do anunciado.\r\nQuero devolver.",
        "Otimo custo beneficio",
        "Chegou com defeito",
    ]
)
_EPOCH = np.datetime64("2017-01-01T00:00:00")


def _hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random 32-char hex ids (like Olist's md5-looking keys)."""
    words = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64)
    return np.array([f"{a:016x}{b:016x}" for a, b in words])


def _fmt(ts: np.ndarray) -> np.ndarray:
    """datetime64[s] -> 'YYYY-MM-DD HH:MM:SS' strings, NaT -> None."""
    out = pd.Series(ts).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy(dtype=object)
    out[pd.isna(ts)] = None
    return out


def generate_merged(n_orders: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Generate `n_orders` orders as rows of the merged table (one row per order item x payment)."""
    if n_orders < 1:
        raise ValueError("n_orders must be at least 1")
    rng = np.random.default_rng(seed)
    n = n_orders

    # --- orders and customers -------------------------------------------------------------------
    order_id = _hex_ids(rng, n)
    customer_id = _hex_ids(rng, n)
    customer_unique_id = _hex_ids(rng, n)
    state = rng.choice(_STATES, size=n, p=_STATE_P / _STATE_P.sum())
    city = np.array([rng.choice(_CITIES[s]) for s in state])
    zip_prefix = rng.integers(1000, 99990, size=n)
    status = rng.choice(_STATUS, size=n, p=_STATUS_P / _STATUS_P.sum())

    purchase = _EPOCH + rng.integers(0, 600 * 86400, size=n).astype("timedelta64[s]")
    approved = purchase + rng.exponential(10 * 3600, size=n).astype("timedelta64[s]")
    carrier = approved + (rng.gamma(2.0, 1.5, size=n) * 86400).astype("timedelta64[s]")
    estimated_days = np.clip(rng.normal(24, 8, size=n), 7, 60).round()
    estimated = (purchase.astype("datetime64[D]") + estimated_days.astype("timedelta64[D]")).astype("datetime64[s]")
    transit_days = rng.gamma(2.2, 5.0, size=n)
    very_late = rng.random(n) < 0.07
    transit_days = transit_days + very_late * rng.uniform(15, 40, size=n)
    delivered = purchase + (transit_days * 86400).astype("timedelta64[s]")

    not_shipped = np.isin(status, ["canceled", "invoiced", "processing", "unavailable"])
    not_delivered = status != "delivered"
    approved = np.where(status == "unavailable", np.datetime64("NaT"), approved)
    carrier = np.where(not_shipped, np.datetime64("NaT"), carrier)
    delivered = np.where(not_delivered, np.datetime64("NaT"), delivered)

    n_items = rng.choice([1, 2, 3, 4], size=n, p=[0.87, 0.09, 0.03, 0.01])
    n_payments = rng.choice([1, 2, 3], size=n, p=[0.955, 0.035, 0.01])
    multi_seller = (n_items > 1) & (rng.random(n) < 0.35)

    # --- score: a latent satisfaction driven by delivery, cut at the target shares ---------------
    delay_days = (delivered - estimated).astype("timedelta64[s]").astype(float) / 86400
    delay_days = np.where(np.isnan(delay_days), 0.0, delay_days)
    early_days = np.clip(-delay_days, 0, 20)
    latent = (
        -0.22 * np.clip(delay_days, 0, 30)
        + 0.03 * early_days
        - 3.0 * not_delivered
        - 0.5 * multi_seller
        - 0.15 * (n_items > 1)
        + rng.normal(0, 0.9, size=n)
    )
    cuts = np.quantile(latent, np.cumsum(SCORE_SHARES)[:-1])
    score = 1 + np.searchsorted(cuts, latent)

    review_created = np.where(
        np.isnat(delivered), estimated, delivered.astype("datetime64[D]").astype("datetime64[s]") + np.timedelta64(1, "D")
    )
    review_answered = review_created + (rng.exponential(2.5, size=n) * 86400).astype("timedelta64[s]")
    has_message = rng.random(n) < np.where(score <= 2, 0.8, 0.35)
    has_title = rng.random(n) < 0.12
    comment = np.where(has_message, rng.choice(_COMMENTS, size=n), None)
    title = np.where(has_title, rng.choice(["Recomendo", "Ruim", "Otimo", "Atraso"], size=n), None)

    # --- items: repeat orders by item count, then by payment count (the merged grain) -------------
    order_idx = np.repeat(np.arange(n), n_items)
    item_no = np.concatenate([np.arange(1, k + 1) for k in n_items])
    m = len(order_idx)
    seller_pool = _hex_ids(rng, max(50, n // 8))
    first_seller = rng.integers(0, len(seller_pool), size=n)
    item_seller = np.where(
        multi_seller[order_idx] & (item_no > 1),
        rng.integers(0, len(seller_pool), size=m),
        first_seller[order_idx],
    )
    product_pool = max(100, n // 2)
    product_no = rng.integers(0, product_pool, size=m)
    product_ids = _hex_ids(np.random.default_rng(seed + 1), product_pool)
    prod_rng = np.random.default_rng(seed + 2)
    p_category = prod_rng.choice(_CATEGORIES, size=product_pool)
    p_missing = prod_rng.random(product_pool) < 0.015
    p_weight = np.clip(prod_rng.lognormal(6.6, 1.1, size=product_pool), 50, 40000).round()
    p_length = np.clip(prod_rng.normal(30, 15, size=product_pool), 7, 105).round()
    p_height = np.clip(prod_rng.lognormal(2.6, 0.7, size=product_pool), 2, 105).round()
    p_width = np.clip(prod_rng.normal(23, 11, size=product_pool), 6, 118).round()
    p_name_len = np.clip(prod_rng.normal(49, 10, size=product_pool), 5, 76).round()
    p_desc_len = np.clip(prod_rng.lognormal(6.4, 0.7, size=product_pool), 4, 3990).round()
    p_photos = np.clip(prod_rng.geometric(0.5, size=product_pool), 1, 20).astype(float)
    price = np.round(np.clip(rng.lognormal(4.3, 0.85, size=m), 0.85, 6800), 2)
    freight = np.round(np.clip(7 + 0.0025 * p_weight[product_no] + rng.normal(6, 4, size=m), 0, 400), 2)
    shipping_limit = purchase[order_idx] + np.timedelta64(6, "D") + rng.integers(0, 86400, size=m).astype("timedelta64[s]")

    order_total = np.bincount(order_idx, weights=price + freight, minlength=n)

    # payments: the first pays most, extra ones are vouchers
    row_item = np.repeat(np.arange(m), n_payments[order_idx])
    row_order = order_idx[row_item]
    pay_no = np.concatenate([np.arange(1, n_payments[o] + 1) for o in order_idx])
    first_type = rng.choice(["credit_card", "boleto", "voucher", "debit_card"], size=n, p=[0.74, 0.19, 0.055, 0.015])
    pay_type = np.where(pay_no == 1, first_type[row_order], "voucher")
    share = np.where(n_payments[row_order] == 1, 1.0, np.where(pay_no == 1, 0.8, 0.2 / np.maximum(n_payments[row_order] - 1, 1)))
    pay_value = np.round(order_total[row_order] * share, 2)
    # one instalment plan per payment (not per row: a payment spans the rows of all the order's items)
    first_installments = rng.choice([1, 2, 3, 4, 5, 6, 8, 10], size=n, p=[0.5, 0.12, 0.1, 0.08, 0.06, 0.05, 0.05, 0.04])
    installments = np.where((pay_type == "credit_card") & (pay_no == 1), first_installments[row_order], 1)

    missing = p_missing[product_no[row_item]]

    def by_order(values: np.ndarray) -> np.ndarray:
        return values[row_order]

    def by_item(values: np.ndarray) -> np.ndarray:
        return values[row_item]

    def by_product(values: np.ndarray, blank_missing: bool = True) -> np.ndarray:
        out = values[product_no[row_item]].astype(object if values.dtype.kind in "OU" else float)
        if blank_missing:
            out[missing] = None if values.dtype.kind in "OU" else np.nan
        return out

    frame = pd.DataFrame(
        {
            "order_id": by_order(order_id),
            "customer_id": by_order(customer_id),
            "order_status": by_order(status),
            "order_purchase_timestamp": _fmt(by_order(purchase)),
            "order_approved_at": _fmt(by_order(approved)),
            "order_delivered_carrier_date": _fmt(by_order(carrier)),
            "order_delivered_customer_date": _fmt(by_order(delivered)),
            "order_estimated_delivery_date": _fmt(by_order(estimated)),
            "customer_unique_id": by_order(customer_unique_id),
            "customer_zip_code_prefix": by_order(zip_prefix),
            "customer_city": by_order(city),
            "customer_state": by_order(state),
            "order_item_id": by_item(item_no),
            "product_id": product_ids[product_no[row_item]],
            "seller_id": seller_pool[item_seller[row_item]],
            "shipping_limit_date": _fmt(by_item(shipping_limit)),
            "price": by_item(price),
            "freight_value": by_item(freight),
            "payment_sequential": pay_no,
            "payment_type": pay_type,
            "payment_installments": installments,
            "payment_value": pay_value,
            "review_id": by_order(_hex_ids(rng, n)),
            "review_score": by_order(score),
            "review_comment_title": by_order(title),
            "review_comment_message": by_order(comment),
            "review_creation_date": _fmt(by_order(review_created)),
            "review_answer_timestamp": _fmt(by_order(review_answered)),
            "product_category_name": by_product(p_category),
            "product_name_lenght": by_product(p_name_len),
            "product_description_lenght": by_product(p_desc_len),
            "product_photos_qty": by_product(p_photos),
            "product_weight_g": by_product(p_weight, blank_missing=False),
            "product_length_cm": by_product(p_length, blank_missing=False),
            "product_height_cm": by_product(p_height, blank_missing=False),
            "product_width_cm": by_product(p_width, blank_missing=False),
        }
    )
    return frame[MERGED_COLUMNS]


def to_kaggle_tables(merged: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a merged table back into the Kaggle tables (file stem -> frame), e.g. to write a
    synthetic Kaggle download folder. Joining them again gives back `merged` (row order aside)."""
    from olist_pipeline.domain.data.kaggle import COLUMNS, PRIMARY_KEYS, TABLES

    tables = {}
    for table, columns in COLUMNS.items():
        if table in ("sellers", "translation"):
            continue
        key = PRIMARY_KEYS.get(table, ["review_id", "order_id"])
        tables[TABLES[table]] = merged[columns].drop_duplicates(subset=key).reset_index(drop=True)
    return tables
