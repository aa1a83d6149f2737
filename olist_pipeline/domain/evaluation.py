"""The evaluation report: where a model errs, and what a support team would get out of it.

Pure: DataFrames and arrays in, numbers, tables and matplotlib figures out. matplotlib and
scikit-learn's inspection module are imported by the functions that draw or permute (~0.4 s), so a run
without the report (`evaluation.report=false`) never imports them.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SCORES = (1, 2, 3, 4, 5)
DELAY_BUCKETS = ["undelivered", "early > 7 d", "early 0-7 d", "late 0-7 d", "late > 7 d"]


def score_breakdown(y_true: np.ndarray, y_pred: np.ndarray, low_score_max: int = 2) -> dict[str, float]:
    """Per-true-score MAE, and how many low (<= `low_score_max`) reviews the lowest predictions catch.

    `low_score_recall`: rank rows by prediction; of the n lowest (n = number of truly low reviews),
    the share that truly are low. What a team contacting the most-at-risk customers would reach.
    """
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    out = {}
    for score in SCORES:
        rows = y_true == score
        if rows.any():
            out[f"mae_score_{score}"] = float(np.abs(y_pred[rows] - score).mean())
    low = y_true <= low_score_max
    n_low = int(low.sum())
    if n_low:
        lowest = np.argsort(y_pred, kind="stable")[:n_low]
        out["low_score_recall"] = float(low[lowest].mean())
        out["low_score_share"] = float(n_low / len(y_true))
    return out


def delay_bucket(estimated: pd.Series, delivered: pd.Series) -> pd.Series:
    """Delivery against the estimate, bucketed (undelivered orders have their own bucket)."""
    est = pd.to_datetime(estimated, errors="coerce", format="ISO8601")
    dlv = pd.to_datetime(delivered, errors="coerce", format="ISO8601")
    delay = (dlv - est).dt.total_seconds() / 86400
    bucket = pd.cut(delay, [-np.inf, -7, 0, 7, np.inf], labels=DELAY_BUCKETS[1:], right=True).astype(object)
    bucket[dlv.isna()] = "undelivered"
    return pd.Series(pd.Categorical(bucket, categories=DELAY_BUCKETS), index=estimated.index, name="delivery")


def error_by_delay(X: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame | None:
    """MAE and mean true/predicted score per delivery bucket (None if the inputs lack the dates)."""
    if not {"order_estimated_delivery_date", "order_delivered_customer_date"} <= set(X.columns):
        return None
    frame = pd.DataFrame(
        {
            "delivery": delay_bucket(X["order_estimated_delivery_date"], X["order_delivered_customer_date"]),
            "abs_error": np.abs(np.asarray(y_pred) - np.asarray(y_true)),
            "true": np.asarray(y_true),
            "predicted": np.asarray(y_pred),
        }
    )
    table = frame.groupby("delivery", observed=False).agg(
        rows=("abs_error", "size"), mae=("abs_error", "mean"), mean_true=("true", "mean"), mean_predicted=("predicted", "mean")
    )
    return table.reset_index()


#: What permutation importance measures the drop of, per task.
IMPORTANCE_SCORING = {"regression": "r2", "binary": "roc_auc"}


def importance(
    model: object, X: pd.DataFrame, y: np.ndarray, repeats: int, seed: int, kind: str = "regression",
    inputs: list[str] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Permutation importance of each raw input column the model reads (`inputs`; default all but
    `order_id`) on the given (test) rows, by drop in R² (regression) or ROC AUC (binary)."""
    from sklearn.inspection import permutation_importance

    columns = [c for c in (inputs if inputs is not None else [c for c in X.columns if c != "order_id"]) if c in X.columns]
    scoring = IMPORTANCE_SCORING[kind]
    result = permutation_importance(model, X, y, n_repeats=repeats, random_state=seed, scoring=scoring, n_jobs=1)
    names = list(X.columns)
    keep = [names.index(c) for c in columns]
    table = pd.DataFrame(
        {"column": columns, "importance": result.importances_mean[keep], "std": result.importances_std[keep]}
    )
    return table.sort_values("importance", ascending=False, ignore_index=True)


def _importance_figure(plt: Any, importances: pd.DataFrame, measure: str) -> Figure:
    top = importances.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(top) + 1.2))
    ax.barh(top["column"], top["importance"], xerr=top["std"])
    ax.set(xlabel=f"drop in {measure} when shuffled (held-out rows)", title="Permutation importance")
    return fig


def binary_figures(
    y_true: np.ndarray, probability: np.ndarray, threshold: float, importances: pd.DataFrame | None
) -> dict[str, Figure]:
    """A binary task's report: ROC, precision-recall and calibration curves, the confusion matrix at
    `threshold`, permutation importance. Release them with `close_figures`."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    plt = _pyplot()
    y_true, probability = np.asarray(y_true).astype(int), np.asarray(probability, dtype=float)
    figs: dict[str, Figure] = {}

    fig, ax = plt.subplots(figsize=(5, 4))
    fpr, tpr, _ = roc_curve(y_true, probability)
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    figs["roc_curve.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 4))
    precision, recall, _ = precision_recall_curve(y_true, probability)
    ax.plot(recall, precision)
    ax.axhline(y_true.mean(), color="k", ls="--", lw=1)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    figs["precision_recall_curve.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 4))
    observed, predicted = calibration_curve(y_true, probability, n_bins=10, strategy="quantile")
    ax.plot(predicted, observed, "o-")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="mean predicted probability", ylabel="observed share", title="Calibration")
    figs["calibration_curve.png"] = fig

    fig, ax = plt.subplots(figsize=(4, 4))
    matrix = confusion_matrix(y_true, (probability >= threshold).astype(int), labels=[0, 1])
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center")
    ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="true", title=f"Confusion matrix at {threshold:g}")
    figs["confusion_matrix.png"] = fig

    if importances is not None and len(importances):
        figs["permutation_importance.png"] = _importance_figure(plt, importances, "ROC AUC")
    for f in figs.values():
        f.tight_layout()
    return figs


def figures(
    y_true: np.ndarray, y_pred: np.ndarray, by_delay: pd.DataFrame | None, importances: pd.DataFrame | None
) -> dict[str, Figure]:
    """The report's plots, keyed by file name; release them with `close_figures`."""
    plt = _pyplot()
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    figs: dict[str, Figure] = {}

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.violinplot([y_pred[y_true == s] if (y_true == s).any() else [np.nan] for s in SCORES], positions=SCORES, showmedians=True)
    ax.plot([1, 5], [1, 5], "k--", lw=1)
    ax.set(xlabel="true score", ylabel="predicted", title="Predicted vs actual")
    figs["predicted_vs_actual.png"] = fig

    fig, ax = plt.subplots(figsize=(5, 4))
    residuals = [y_pred[y_true == s] - s for s in SCORES]
    ax.boxplot([r if len(r) else [np.nan] for r in residuals], positions=SCORES, showfliers=False)
    ax.axhline(0, color="k", lw=1)
    ax.set(xlabel="true score", ylabel="predicted - true", title="Residuals by true score")
    figs["residuals_by_score.png"] = fig

    if by_delay is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.bar(by_delay["delivery"].astype(str), by_delay["mae"].fillna(0))
        ax.set(ylabel="MAE", title="Error by delivery against estimate")
        ax.tick_params(axis="x", rotation=20)
        figs["error_by_delivery_delay.png"] = fig

    if importances is not None and len(importances):
        figs["permutation_importance.png"] = _importance_figure(plt, importances, "R²")

    for f in figs.values():
        f.tight_layout()
    return figs


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend: files only, never a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def close_figures(figs: dict[str, Figure]) -> None:
    """Free the figures `figures` made (pyplot keeps every open figure alive)."""
    if figs:
        plt = _pyplot()
        for figure in figs.values():
            plt.close(figure)


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return base64.b64encode(buffer.getvalue()).decode()


def html_report(
    title: str, metrics: dict[str, float], tables: dict[str, pd.DataFrame], figs: dict[str, Figure]
) -> str:
    """A self-contained HTML page (inline PNGs) for the ZenML dashboard."""
    parts = [f"<h2>{html.escape(title)}</h2>", "<table>"]
    parts += [f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in metrics.items()]
    parts.append("</table>")
    for name, table in tables.items():
        parts.append(f"<h3>{html.escape(name)}</h3>{table.to_html(index=False, float_format='{:.4f}'.format)}")
    for name, fig in figs.items():
        parts.append(f'<h3>{html.escape(name)}</h3><img src="data:image/png;base64,{_png(fig)}"/>')
    return "<div>" + "\n".join(parts) + "</div>"
