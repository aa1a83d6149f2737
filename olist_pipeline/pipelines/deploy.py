"""Serve the production model version (or `model_version=N`) over HTTP."""

from __future__ import annotations

from zenml import pipeline

from olist_pipeline.config.spec import ServingSpec
from olist_pipeline.steps.deployment import deploy


@pipeline(name="olist_deploy", enable_cache=False)
def deploy_pipeline(
    model_name: str, model_version: int, registry_version: str, model_uri: str, serving_spec: ServingSpec
) -> None:
    """One step: (re)start the model server on the given version."""
    deploy(model_name, model_version, registry_version, model_uri, serving_spec=serving_spec)
