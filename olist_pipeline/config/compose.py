"""From Hydra's composed config to a validated `RunSpec`, and the same composition outside `@hydra.main`
(set-up commands, tests) through Hydra's compose API. Registers the `project_root` resolver the YAML uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from olist_pipeline.config.spec import RunSpec, build_run_spec
from olist_pipeline.errors import ConfigError
from olist_pipeline.paths import CONF_DIR, PROJECT_ROOT, resolve



def package_file(package: str, resource: str) -> str:
    """`${package_file:palmerpenguins,data/penguins.csv}`: a data file shipped inside an installed
    package (nothing downloaded at run time)."""
    from importlib.resources import files

    try:
        return str(files(package) / resource)
    except ModuleNotFoundError:
        raise ConfigError(f"package_file: package {package!r} is not installed (pip install {package})") from None


if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
if not OmegaConf.has_resolver("package_file"):
    OmegaConf.register_new_resolver("package_file", package_file)


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The same composition `python -m olist_pipeline <overrides>` would run."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


def resolve_config(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as a plain dict, interpolations resolved, paths made absolute."""
    try:
        container: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid configuration: {exc}".splitlines()[0]) from None
    # Relative paths are relative to the project root, never the CWD.
    container["paths"] = {k: str(resolve(v)) for k, v in container.get("paths", {}).items()}
    if isinstance(container.get("dataset"), dict) and container["dataset"].get("path"):
        container["dataset"]["path"] = str(resolve(container["dataset"]["path"]))
    return container


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{'model': {'alpha': 1}} -> {'model.alpha': '1'}: the composed config as MLflow params."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def group_files(cfg: DictConfig) -> dict[str, str]:
    """Config group -> the file its chosen option came from (conf/dataset/sample.yaml), so that a
    problem in a declaration names the file to fix. Empty outside a Hydra run or composition."""
    from hydra.core.hydra_config import HydraConfig

    choices: Any = None
    if HydraConfig.initialized():
        choices = HydraConfig.get().runtime.choices
    elif "hydra" in cfg:
        choices = cfg.hydra.runtime.choices
    files = {}
    for group, option in dict(choices or {}).items():
        path = CONF_DIR / group / f"{option}.yaml"
        if option and not group.startswith("hydra") and path.is_file():
            files[group] = str(path.relative_to(PROJECT_ROOT))
    return files


def compose_spec(cfg: DictConfig) -> tuple[RunSpec, str, dict[str, str]]:
    """Resolve and validate the composed config. Returns the spec, its YAML and its flat params."""
    container = resolve_config(cfg)
    return build_run_spec(container, group_files(cfg)), OmegaConf.to_yaml(container), flatten(container)
