"""promote: the gate between the trained candidate and the production model."""

from __future__ import annotations

import dataclasses
import logging
from typing import Annotated, Any

import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step

from olist_pipeline.config.spec import EvaluationSpec, PromotionSpec, TaskSpec
from olist_pipeline.domain.promotion import (
    RESCORE_ERRORS,
    ChampionView,
    gate,
    needs_champion_scores,
    promotion_record,
    rescore,
)
from olist_pipeline.stack.locks import promotion_lock
from olist_pipeline.stack.registry import champion_view, load_model, production_version, record_decision

logger = logging.getLogger(__name__)


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
    task: TaskSpec,
) -> Annotated[dict[str, Any], "promotion"]:
    """Promote the candidate to production only if it passes the thresholds and beats the champion
    re-scored on the candidate's own test rows. A blocked candidate stays a registered version."""
    with promotion_lock():
        this = get_step_context().model
        production = production_version(this.name)
        champion = champion_view(production)
        if needs_champion_scores(promotion.enabled, evaluation.split, registry_version, champion):
            champion = _rescored(champion, production, clean_orders, target, partition, evaluation, task)
        decision = gate(
            metrics, enabled=promotion.enabled, thresholds=promotion.thresholds,
            compare_metric=promotion.compare_metric, min_improvement=promotion.min_improvement,
            evaluation_split=evaluation.split, candidate_registry_version=registry_version, champion=champion,
        )  # fmt: skip
        record_decision(this, registry_version, mlflow_run_id, decision)
        logger.info("%s", decision.summary)
        record = promotion_record(
            decision, model_name=this.name, model_version=this.number, registry_version=registry_version, champion=champion
        )
        log_metadata({"promotion": record}, infer_model=True)
        return record


def _rescored(
    champion: ChampionView, version: Any, rows: pd.DataFrame, target: pd.Series, partition: pd.Series,
    evaluation: EvaluationSpec, task: TaskSpec,
) -> ChampionView:  # fmt: skip
    """The champion with its metrics on the candidate's test rows, or why it cannot be scored there."""
    try:
        scoring = task.scoring(evaluation.low_score_max)
        scores = rescore(load_model(version), rows, target, partition, evaluation.metrics, scoring)
    except RESCORE_ERRORS as exc:
        return dataclasses.replace(champion, error=str(exc))
    return dataclasses.replace(champion, metrics=scores)
