"""Model versions on both sides: ZenML's Model Control Plane and MLflow's Model Registry.

A training run creates one ZenML model version (linked to every artifact of the run) and registers
its sklearn pipeline as one MLflow registry version. Each side records the other: the MLflow version
carries `zenml_*` tags, the ZenML version carries `mlflow` metadata. The production model is the
ZenML version in stage `production`; the MLflow alias `champion` points at its registry version.

Imported by steps and the runner only (it imports ZenML and MLflow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from olist_pipeline.domain.promotion import ChampionView, Decision
from olist_pipeline.errors import ConfigError
from olist_pipeline.stack.tracking import EXTRA_CONFIG_YAML

#: MLflow alias of the production model (aliases, not the deprecated registry stages).
CHAMPION_ALIAS = "champion"
#: Key of the ZenML model-version metadata that records the MLflow side.
MLFLOW_METADATA_KEY = "mlflow"
#: Name of the trained sklearn pipeline among a ZenML model version's artifacts.
MODEL_ARTIFACT = "model"
#: ZenML model-version metadata key and MLflow tag holding the last `pipeline=reproduce` verdict.
REPRODUCED_KEY = "reproduced"


@dataclass(frozen=True)
class VersionRef:
    """A resolved model version: enough to load, serve or trace it."""

    model_name: str
    number: int
    version_id: str
    stage: str | None
    registry_version: str | None
    model_uri: str | None  # models:/NAME/VERSION


def register_in_mlflow(model_uri: str, name: str, tags: dict[str, str], description: str) -> str:
    """Register a logged model (`models:/m-<id>`) as a new version of `name`; return the version."""
    import mlflow

    version = mlflow.register_model(model_uri, name, tags=tags)
    mlflow.MlflowClient().update_model_version(name, version.version, description=description)
    return str(version.version)


def register_candidate(logged_model_uri: str, model: Any, pipeline_run: Any, mlflow_run: Any, extra: dict[str, Any]) -> dict[str, str]:
    """Register a training run's logged model as a new MLflow version of the run's ZenML `model`, tagged
    with the ZenML side; return the MLflow side, to record on the ZenML version under MLFLOW_METADATA_KEY.

    `extra` is the pipeline run's `config.extra` (data hash, git commit, composed config).
    """
    tags = {
        "zenml_model": model.name,
        "zenml_model_version": str(model.number),
        "zenml_model_version_id": str(model.id),
        "zenml_run_id": str(pipeline_run.id),
        "zenml_run_name": pipeline_run.name,
        "mlflow_run_id": mlflow_run.info.run_id,
        "data_sha256": str(extra.get("data_sha256", "unknown")),
        "git_commit": str(extra.get("git_commit", "unknown")),
        "config": extra.get(EXTRA_CONFIG_YAML, ""),
    }
    registry_version = register_in_mlflow(
        logged_model_uri,
        model.name,
        tags,
        description=f"ZenML model {model.name} version {model.number}, run {pipeline_run.name}",
    )
    return {
        "registered_model": model.name,
        "registry_version": registry_version,
        "model_uri": f"models:/{model.name}/{registry_version}",
        "logged_model_uri": logged_model_uri,
        "run_id": mlflow_run.info.run_id,
        "experiment_id": mlflow_run.info.experiment_id,
    }


def mlflow_client() -> Any:
    """An MLflow client on the active stack's tracking server (configured by its experiment tracker)."""
    from mlflow import MlflowClient
    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    if tracker is not None and hasattr(tracker, "configure_mlflow"):
        tracker.configure_mlflow()
    return MlflowClient()


def production_version(model_name: str) -> Any | None:
    """The ZenML model version in stage production, or None."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None


def get_version(model_name: str, number: int) -> Any:
    """ZenML model version `number` of `model_name` (KeyError when there is none)."""
    from zenml.client import Client

    return Client().get_model_version(model_name, number)


def load_model(version: Any) -> Any:
    """The trained sklearn pipeline of a ZenML model version, from the artifact store."""
    return version.get_artifact(MODEL_ARTIFACT).load()


def champion_view(version: Any | None) -> ChampionView | None:
    """The production version (from `production_version`) as the promotion gate sees it, not yet re-scored."""
    if version is None:
        return None
    ref = as_ref(version)
    return ChampionView(number=ref.number, registry_version=ref.registry_version)


def record_decision(model: Any, registry_version: str, mlflow_run_id: str, decision: Decision) -> None:
    """Write the gate's decision where users look. Promoted: the MLflow `champion` alias and the ZenML
    `production` stage move to the candidate. Either way: `promotion` tags on its registry version and
    MLflow run. `model` is the step's ZenML model version."""
    client = mlflow_client()
    outcome = "promoted" if decision.promoted else "blocked"
    if decision.promoted:
        client.set_registered_model_alias(model.name, CHAMPION_ALIAS, registry_version)
        # force=True moves the previous production version to `archived`.
        model.set_stage("production", force=True)
    client.set_model_version_tag(model.name, registry_version, "promotion", outcome)
    client.set_model_version_tag(model.name, registry_version, "promotion_summary", decision.summary)
    client.set_tag(mlflow_run_id, "promotion", outcome)
    client.set_tag(mlflow_run_id, "promotion_summary", decision.summary[:5000])


def _mlflow_metadata(version: Any) -> dict[str, Any]:
    value = version.run_metadata.get(MLFLOW_METADATA_KEY)
    return value if isinstance(value, dict) else {}


def as_ref(version: Any) -> VersionRef:
    """A ZenML ModelVersionResponse -> VersionRef."""
    mlflow_side = _mlflow_metadata(version)
    registry_version = mlflow_side.get("registry_version")
    name = version.model.name
    return VersionRef(
        model_name=name,
        number=int(version.number),
        version_id=str(version.id),
        stage=getattr(version.stage, "value", version.stage),
        registry_version=str(registry_version) if registry_version is not None else None,
        model_uri=f"models:/{name}/{registry_version}" if registry_version is not None else None,
    )


def resolve(model_name: str, reference: str | None, default: str = "production") -> VersionRef:
    """`17`, `production`, `staging`, `latest` or `mlflow:5` -> the ZenML model version it names.

    Raises:
        ConfigError: when no such version exists (names what exists instead).
    """
    from zenml.client import Client
    from zenml.enums import ModelStages

    reference = (reference or default).strip()
    client = Client()
    try:
        client.get_model(model_name)
    except KeyError:
        raise ConfigError(
            f"no model named {model_name!r} in this ZenML store yet: train one first (python -m olist_pipeline)"
        ) from None
    if reference.startswith("mlflow:"):
        wanted = reference.removeprefix("mlflow:")
        try:
            tags = mlflow_client().get_model_version(model_name, wanted).tags
        except Exception as exc:  # MlflowException: no such version
            raise ConfigError(f"MLflow registry has no version {wanted} of {model_name!r}: {exc}") from None
        if "zenml_model_version_id" not in tags:
            raise ConfigError(f"MLflow version {wanted} of {model_name!r} carries no zenml_model_version_id tag")
        return as_ref(client.get_model_version(model_name, tags["zenml_model_version_id"]))
    stages = {s.value: s for s in ModelStages}
    if reference == "latest":
        key: Any = None
    elif reference in stages:
        key = stages[reference]
    elif reference.isdigit():
        key = int(reference)
    else:
        raise ConfigError(
            f"model_version={reference!r}: expected a version number, latest, mlflow:N or one of {sorted(stages)}"
        )
    try:
        return as_ref(client.get_model_version(model_name, key))
    except KeyError:
        if key in (ModelStages.PRODUCTION, "production"):
            raise ConfigError(
                f"model {model_name!r} has no production version yet: no trained candidate passed the "
                "promotion gate (see the `promotion` line of a training run's summary)"
            ) from None
        raise ConfigError(f"model {model_name!r} has no version {reference!r}") from None


def record_reproduction(ref: VersionRef, mlflow_run_id: str | None, answer: str, checked: str, details: dict[str, Any]) -> str:
    """Write a reproduce verdict on the version it checked: ZenML model-version metadata `reproduced`
    (`yes, checked <date>`) and `reproduction` (the details), and the MLflow tag `reproduced` on its
    registry version and training run. Nothing else changes (stage, aliases). Returns the text recorded."""
    from zenml import log_metadata

    text = f"{answer}, checked {checked}"
    log_metadata({REPRODUCED_KEY: text, "reproduction": details}, model_name=ref.model_name, model_version=ref.number)
    client = mlflow_client()
    if ref.registry_version is not None:
        client.set_model_version_tag(ref.model_name, ref.registry_version, REPRODUCED_KEY, text)
    if mlflow_run_id:
        client.set_tag(mlflow_run_id, REPRODUCED_KEY, text)
    return text


def log_comparison(mlflow_run_id: str, markdown: str, artifact_file: str) -> str:
    """Attach a comparison page to an MLflow run; returns where it is (`runs:/<id>/<file>`)."""
    mlflow_client().log_text(mlflow_run_id, markdown, artifact_file)
    return f"runs:/{mlflow_run_id}/{artifact_file}"
