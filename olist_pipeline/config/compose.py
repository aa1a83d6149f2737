"""Compose the config outside `@hydra.main` (set-up commands, tests) with Hydra's compose API."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import olist_pipeline.app.cli  # noqa: F401  (registers the `project_root` resolver)
from olist_pipeline.paths import CONF_DIR


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The same composition `python -m olist_pipeline <overrides>` would run."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))
