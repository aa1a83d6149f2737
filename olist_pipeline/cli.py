"""`python -m olist_pipeline`: Hydra composes the config, we validate it into a `RunSpec` and run it.

Fast paths (`--help`, `--cfg job`, config errors) never import ZenML or MLflow.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from olist_pipeline.errors import ConfigError, OlistError
from olist_pipeline.paths import CONF_DIR, PROJECT_ROOT, resolve
from olist_pipeline.spec import RunSpec, build_run_spec

if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


def compose_spec(cfg: DictConfig) -> tuple[RunSpec, str, dict[str, str]]:
    """Resolve and validate the composed config. Returns the spec, its YAML and its flat params."""
    from olist_pipeline.tracking import flatten

    try:
        container: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid configuration: {exc}".splitlines()[0]) from None
    # Relative paths are relative to the project root, never the CWD.
    container["paths"] = {k: str(resolve(v)) for k, v in container.get("paths", {}).items()}
    if isinstance(container.get("dataset"), dict) and container["dataset"].get("path"):
        container["dataset"]["path"] = str(resolve(container["dataset"]["path"]))
    spec = build_run_spec(container)
    return spec, OmegaConf.to_yaml(container), flatten(container)


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")


def run(cfg: DictConfig) -> float | None:
    """The Hydra task: returns the primary test metric (what a sweeper optimises)."""
    try:
        spec, config_yaml, params = compose_spec(cfg)
        from olist_pipeline.runner import run_training
        from olist_pipeline.summary import print_summary

        result = run_training(spec, config_yaml, params)
        print_summary(result, spec)
        return result.metrics.get(spec.evaluation.primary_metric)
    except OlistError as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        _fail(str(exc))
        sys.exit(1)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_entry(cfg: DictConfig) -> float | None:
    return run(cfg)


def main() -> None:
    """Console entry point."""
    _hydra_entry()
