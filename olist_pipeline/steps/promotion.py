"""promote: the gate between the trained candidate and the production model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step

from olist_pipeline.stack.infra import file_lock
from olist_pipeline.domain.promotion import Decision, decide
from olist_pipeline.stack.registry import CHAMPION_ALIAS, as_ref, mlflow_client, production_version
from olist_pipeline.config.spec import EvaluationSpec, PromotionSpec
from olist_pipeline.domain.splits import TEST

logger = logging.getLogger(__name__)


def _score(model: Pipeline, X: pd.DataFrame, y: pd.Series, evaluation: EvaluationSpec) -> dict[str, float]:
    from olist_pipeline.domain.evaluation import score_breakdown
    from olist_pipeline.domain.metrics import regression_metrics

    predictions = model.predict(X)
    scores = regression_metrics(y.to_numpy(), predictions, evaluation.metrics)
    scores.update(score_breakdown(y.to_numpy(), predictions, evaluation.low_score_max))
    return scores


# Never cached: the decision depends on the current champion, which is not an input of the step.
# No experiment_tracker: a fully cached run must not open an empty MLflow run just for the gate; the
# decision is tagged on the candidate's own MLflow run and registry version instead.
@step(enable_cache=False)
def promote(
    candidate: Pipeline,
    clean_orders: pd.DataFrame,
    target: pd.Series,
    partition: pd.Series,
    metrics: dict[str, float],
    registry_version: str,
    mlflow_run_id: str,
    promotion: PromotionSpec,
    evaluation: EvaluationSpec,
) -> Annotated[dict[str, Any], "promotion"]:
    """Promote the candidate to production only if it passes the thresholds and beats the champion
    re-scored on the candidate's own test rows. A blocked candidate stays a registered version."""
    from zenml.config.global_config import GlobalConfiguration

    # Parallel sweep jobs on this machine must not both promote against the same old champion.
    with file_lock(Path(GlobalConfiguration().config_directory) / ".promotion.lock"):
        context = get_step_context()
        this = context.model
        name = this.name
        champion = production_version(name)
        champion_ref = as_ref(champion) if champion is not None else None
        champion_metrics: dict[str, float] | None = None
        if not promotion.enabled:
            decision = Decision(False, ["promotion disabled (promotion.enabled=false): registered only"])
        elif evaluation.split != "test":
            decision = Decision(False, [f"scored on the {evaluation.split} split; only test metrics can promote"])
        elif champion_ref is not None and champion_ref.registry_version == registry_version:
            decision = Decision(False, [f"the candidate is the production model already (v{champion_ref.number})"])
        else:
            label = "champion"
            if champion is not None:
                label = f"champion v{champion_ref.number}"
                rows = (partition == TEST).to_numpy()
                try:
                    champion_model = champion.get_artifact("model").load()
                    champion_metrics = _score(champion_model, clean_orders.loc[rows], target.loc[rows], evaluation)
                except (ValueError, KeyError, TypeError) as exc:
                    # Cannot compare on the same rows (e.g. it needs columns this data lacks): keep it.
                    decision = Decision(False, [f"{label} cannot be re-scored on this candidate's test rows ({exc})"])
                else:
                    decision = decide(
                        metrics, promotion.thresholds, promotion.compare_metric, promotion.min_improvement,
                        champion=champion_metrics, champion_label=label,
                    )
            else:
                decision = decide(metrics, promotion.thresholds, promotion.compare_metric, promotion.min_improvement)

        client = mlflow_client()
        if decision.promoted:
            client.set_registered_model_alias(name, CHAMPION_ALIAS, registry_version)
            # force=True moves the previous production version to `archived`.
            this.set_stage("production", force=True)
        client.set_model_version_tag(name, registry_version, "promotion", "promoted" if decision.promoted else "blocked")
        client.set_model_version_tag(name, registry_version, "promotion_summary", decision.summary)
        client.set_tag(mlflow_run_id, "promotion", "promoted" if decision.promoted else "blocked")
        client.set_tag(mlflow_run_id, "promotion_summary", decision.summary[:5000])
        logger.info("%s", decision.summary)
        record: dict[str, Any] = {
            **decision.as_metadata(),
            "model_name": name,
            "model_version": int(this.number),
            "registry_version": registry_version,
            "champion_before": champion_ref.number if champion_ref else None,
            "champion_before_registry_version": champion_ref.registry_version if champion_ref else None,
            "champion_metrics_on_candidate_test_rows": champion_metrics,
        }
        record = {k: v for k, v in record.items() if v is not None}
        log_metadata({"promotion": record}, infer_model=True)
        return record
