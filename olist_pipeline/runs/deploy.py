"""deploy / undeploy: serve a registered version over HTTP, or stop serving it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.errors import DataError
from olist_pipeline.runs.common import run_options, timestamp
from olist_pipeline.stack import logs, serving
from olist_pipeline.stack.infra import configure_environment, provision


def run_deploy(spec: RunSpec) -> dict[str, Any]:
    """Serve the production version (or `model_version`) through the `olist_deploy` pipeline."""
    configure_environment(spec.stack)
    provision(spec.stack)
    logs.install()
    from zenml import Model
    from zenml.client import Client

    from olist_pipeline.pipelines.deploy import deploy_pipeline
    from olist_pipeline.stack import registry

    ref = registry.resolve(spec.tracking.model_name, spec.model_version, default="production")
    if ref.model_uri is None:
        raise DataError(f"model {ref.model_name} v{ref.number} has no MLflow registry version to serve")
    configured = deploy_pipeline.with_options(
        run_name=f"{spec.tracking.run_name_prefix}-deploy-{ref.model_name}-v{ref.number}-{timestamp()}",
        model=Model(name=ref.model_name, version=ref.number),
        execution_mode=run_options(spec)["execution_mode"],
    )
    response = configured(
        model_name=ref.model_name,
        model_version=ref.number,
        registry_version=ref.registry_version,
        model_uri=ref.model_uri,
        serving_spec=spec.serving,
    )
    run = Client().get_pipeline_run(response.id)
    record = run.steps["deploy"].outputs["deployment"][0].load()
    record["zenml_run_id"] = str(run.id)
    return record


def run_undeploy(spec: RunSpec) -> Any:
    """Stop the model server of this model name (no ZenML import: a process and a state file)."""
    return serving.stop(Path(spec.serving.state_dir), spec.tracking.model_name)


def served(spec: RunSpec) -> Any:
    """The model server currently running for this model name, or None."""
    return serving.current(Path(spec.serving.state_dir), spec.tracking.model_name)
