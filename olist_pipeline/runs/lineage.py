"""lineage: the data, code, config and runs behind a model version."""

from __future__ import annotations

from typing import Any

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.stack import logs
from olist_pipeline.stack.infra import configure_environment, connect


def run_lineage(spec: RunSpec) -> Any:
    """The lineage of `model_version` (default: the latest version)."""
    configure_environment(spec.stack)
    connect(spec.stack)
    logs.install()
    from olist_pipeline.stack.lineage import trace

    return trace(spec.tracking.model_name, spec.model_version)
