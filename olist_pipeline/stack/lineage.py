"""The chain behind a model version: ZenML version -> training run -> data, code, config -> MLflow.

`python -m olist_pipeline pipeline=lineage model_version=17` (or `production`, `latest`, `mlflow:5`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from olist_pipeline.errors import ConfigError
from olist_pipeline.stack import registry
from olist_pipeline.domain.data import loaders
from olist_pipeline.stack.tracking import EXTRA_CONFIG_YAML, EXTRA_LIBRARIES, EXTRA_OVERRIDES, EXTRA_PARAMS

TRAINING_PIPELINE = "olist_training"


@dataclass
class Lineage:
    """Everything needed to answer 'which data, code and config produced this model?'"""

    model_name: str
    version: int
    version_id: str
    stage: str | None
    created: str
    training_run: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    git_commit: str = "unknown"
    overrides: list[str] = field(default_factory=list)
    config_yaml: str = ""
    params: dict[str, str] = field(default_factory=dict)  # the composed config, flat (MLflow params)
    libraries: dict[str, str] = field(default_factory=dict)  # {} for runs recorded before library versions were
    reproduced: str = ""  # the last `pipeline=reproduce` verdict: "yes, checked <date>" (empty: never checked)
    test_metrics: dict[str, float] = field(default_factory=dict)
    promotion: str = ""
    mlflow: dict[str, Any] = field(default_factory=dict)
    other_runs: list[str] = field(default_factory=list)
    deployment: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def reproduce(self) -> str:
        """The command that retrains this model from the same code, config and (pinned) data."""
        commit = self.git_commit.removesuffix("-dirty")
        # Retraining is the default pipeline (a `pipeline=cd` run would also redeploy).
        args = " ".join(o for o in self.overrides if not o.startswith("pipeline="))
        sha = self.data.get("sha256", "")
        pin = f" dataset.sha256={sha}" if sha and "dataset.sha256=" not in args else ""
        return f"git checkout {commit} && python -m olist_pipeline {args}{pin}".replace("  ", " ")


def _current_sha(fmt: str, path: str) -> str:
    try:
        return loaders.fingerprint(fmt, Path(path))
    except Exception as exc:  # noqa: BLE001 - any reason the data is no longer readable is reported
        return f"unavailable ({exc})"


def trace(model_name: str, reference: str | None) -> Lineage:
    """Collect the lineage of one model version from ZenML and MLflow."""
    from zenml.client import Client

    client = Client()
    ref = registry.resolve(model_name, reference, default="latest")
    version = client.get_model_version(model_name, ref.version_id)
    meta = version.run_metadata
    lineage = Lineage(
        model_name=model_name,
        version=ref.number,
        version_id=ref.version_id,
        stage=ref.stage,
        created=str(version.created),
        test_metrics=dict(meta.get("test_metrics") or {}),
        promotion=str((meta.get("promotion") or {}).get("summary", "")),
        deployment=dict(meta.get("deployment") or {}),
        reproduced=str(meta.get(registry.REPRODUCED_KEY) or ""),
    )
    runs = client.list_pipeline_runs(model_version_id=ref.version_id, sort_by="asc:created", size=100, hydrate=True)
    for run in runs.items:
        name = run.name
        if run.pipeline is not None and run.pipeline.name == TRAINING_PIPELINE and not lineage.training_run:
            extra = run.config.extra
            lineage.training_run = {"name": run.name, "id": str(run.id), "status": str(run.status.value), "created": str(run.created)}
            lineage.git_commit = str(extra.get("git_commit", "unknown"))
            lineage.overrides = list(extra.get(EXTRA_OVERRIDES, []))
            lineage.config_yaml = str(extra.get(EXTRA_CONFIG_YAML, ""))
            lineage.params = {str(k): str(v) for k, v in (extra.get(EXTRA_PARAMS) or {}).items()}
            lineage.libraries = {str(k): str(v) for k, v in (extra.get(EXTRA_LIBRARIES) or {}).items()}
            dataset = run.steps["ingest"].config.parameters.get("dataset", {}) if "ingest" in run.steps else {}
            path, fmt = str(dataset.get("path", "")), str(dataset.get("format", "merged_csv"))
            sha = str(extra.get("data_sha256", ""))
            now = _current_sha(fmt, path) if path else "unknown"
            lineage.data = {"path": path, "format": fmt, "sha256": sha, "now": now}
            if sha and now != sha:
                lineage.warnings.append(f"the data at {path} has changed since training (now {now[:16]})")
            if lineage.git_commit.endswith("-dirty"):
                lineage.warnings.append("trained with uncommitted changes: the commit alone does not reproduce it")
        else:
            pipeline_name = run.pipeline.name if run.pipeline is not None else "?"
            lineage.other_runs.append(f"{pipeline_name}: {name} ({run.status.value})")
    if ref.registry_version is not None:
        mlflow_client = registry.mlflow_client()
        mv = mlflow_client.get_model_version(model_name, ref.registry_version)
        lineage.mlflow = {
            "registered_model": model_name,
            "registry_version": ref.registry_version,
            "aliases": list(mv.aliases),
            "run_id": mv.run_id,
            "source": mv.source,
            "tags": {k: v for k, v in mv.tags.items() if k != "config"},
        }
        if mv.tags.get("zenml_model_version_id") != ref.version_id:
            lineage.warnings.append("the MLflow version's zenml_model_version_id tag does not point back here")
        champion = registry.CHAMPION_ALIAS in mv.aliases
        if champion != (ref.stage == "production"):
            lineage.warnings.append(
                f"ZenML stage is {ref.stage!r} but the MLflow alias {registry.CHAMPION_ALIAS!r} "
                f"{'points' if champion else 'does not point'} here"
            )
    return lineage


def training_run(version_id: str) -> Any:
    """The pipeline run that trained a ZenML model version (the first `olist_training` run linked to it).

    Raises:
        ConfigError: when the version has none (e.g. created by hand).
    """
    from zenml.client import Client

    runs = Client().list_pipeline_runs(model_version_id=version_id, sort_by="asc:created", size=100, hydrate=True)
    for run in runs.items:
        if run.pipeline is not None and run.pipeline.name == TRAINING_PIPELINE:
            return run
    raise ConfigError(f"model version {version_id} has no {TRAINING_PIPELINE} run")


def run_output(run: Any, step: str, output: str) -> Any:
    """The loaded artifact `output` of `step` in a pipeline run (e.g. `split`, `partition`)."""
    return run.steps[step].outputs[output][0].load()
