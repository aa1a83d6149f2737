"""deploy: serve a model version over HTTP (MLflow scoring server), replacing the one served before."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from zenml import log_metadata, step

from olist_pipeline.stack import serving
from olist_pipeline.config.spec import ServingSpec

logger = logging.getLogger(__name__)


# Never cached: whether a server runs is state outside ZenML.
@step(enable_cache=False)
def deploy(
    model_name: str, model_version: int, registry_version: str, model_uri: str, serving_spec: ServingSpec
) -> Annotated[dict[str, Any], "deployment"]:
    """Serve `model_uri` on the configured host/port; keep a healthy server already serving it."""
    server, previous, action = serving.deploy(
        model_uri=model_uri, model_name=model_name, model_version=model_version,
        registry_version=registry_version, host=serving_spec.host, port=serving_spec.port,
        workers=serving_spec.workers, state_dir=Path(serving_spec.state_dir), timeout=serving_spec.start_timeout_s,
        threads=serving_spec.threads_per_worker,
    )  # fmt: skip
    logger.info("%s v%s: %s, served at %s", model_name, model_version, action, server.url)
    record: dict[str, Any] = {
        "action": action,
        "url": server.url,
        "invocations_url": server.invocations_url,
        "pid": server.pid,
        "model_name": model_name,
        "model_version": int(model_version),
        "registry_version": registry_version,
        "model_uri": model_uri,
        "started_at": server.started_at,
        "log_path": server.log_path,
    }
    if previous is not None and action == "replaced":
        record["replaced_model_version"] = previous.model_version
    log_metadata({"deployment": record}, infer_model=True)
    return record
