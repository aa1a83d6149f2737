"""What every training run records in MLflow, beyond what ZenML's tracker does by itself."""

from __future__ import annotations

import subprocess
from typing import Any

from olist_pipeline.paths import PROJECT_ROOT

#: Keys of the ZenML pipeline `extra` that carry the tracking context into the steps.
EXTRA_CONFIG_YAML = "olist_config_yaml"
EXTRA_PARAMS = "olist_params"
EXTRA_OVERRIDES = "olist_overrides"
EXTRA_LIBRARIES = "olist_libraries"

#: Distributions whose versions a training run records (`pipeline=reproduce` compares them with the
#: installed ones): what computes, stores and tracks the model.
RECORDED_LIBRARIES = (
    "scikit-learn", "numpy", "scipy", "pandas", "pyarrow", "pandera", "skops", "zenml", "mlflow", "hydra-core",
)  # fmt: skip


def library_versions() -> dict[str, str]:
    """The Python version and the installed version of each of `RECORDED_LIBRARIES` (absent ones left out)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            pass
    return versions


def git_commit() -> str:
    """The checked-out commit (suffixed `-dirty` with uncommitted changes), or `unknown`."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


#: Module prefixes whose types a model we trained ourselves may contain (skops allow-list policy).
TRUSTED_MODULE_PREFIXES = ("olist_pipeline.", "sklearn.", "numpy.", "scipy.")


def skops_trusted_types(model: object) -> list[str]:
    """Types to allow when MLflow saves `model` with skops: only our own, scikit-learn's and numpy's.

    Any other type in the model is refused, so a model never ships with an open allow-list.
    """
    import skops.io as skops_io

    found = skops_io.get_untrusted_types(data=skops_io.dumps(model))
    foreign = [t for t in found if not t.startswith(TRUSTED_MODULE_PREFIXES)]
    if foreign:
        raise ValueError(f"model contains types outside the trusted modules: {foreign}")
    return found


#: What a served model needs besides MLflow itself. Declared, so MLflow need not infer it by
#: re-loading the model in a subprocess (which took ~6 s of every training run).
MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy", "skops")


def model_pip_requirements() -> list[str]:
    """Pinned requirements of a logged model, from the versions installed here."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS]


def log_trained_model(model: Any, example: Any) -> Any:
    """Log a fitted scikit-learn model to the active MLflow run as `model`: saved with skops (only our own,
    scikit-learn's and numpy's types trusted), with its signature and an input example, this package's
    code (custom estimators load anywhere) and pinned requirements (MLflow need not infer them).
    Returns MLflow's `ModelInfo` (its `model_uri` is what the registry registers)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from olist_pipeline.paths import PACKAGE_DIR

    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=skops_trusted_types(model),
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=model_pip_requirements(),
    )
