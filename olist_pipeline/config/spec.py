"""The typed run spec: the composed Hydra config, validated once, right after composition.

Every config group has a pydantic model here with `extra="forbid"`, so a misspelt key, a wrong type or a
bad value fails before any work starts, with a message naming the key. The same models are what the
ZenML steps receive as parameters, so ZenML's record of a run shows the exact cleaning strategy,
feature set, split and model parameters that produced a model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from olist_pipeline.errors import ConfigError


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSpec(_Spec):
    """Which pipeline to run."""

    name: Literal["training", "deploy", "undeploy", "inference", "lineage", "cd"] = "training"
    enable_artifact_metadata: bool = Field(True, description="ZenML: extract metadata from every artifact")
    enable_artifact_visualization: bool = Field(True, description="ZenML: render artifact previews for the dashboard")
    enable_step_logs: bool = Field(True, description="ZenML: store each step's log output")
    handoff_mb: int = Field(
        1024,
        ge=0,
        description="tables a step wrote that a later step in the same process loads from memory instead of "
        "reading them back (MB of Arrow buffers; 0: always read the artifact store); the files are written anyway",
    )
    reuse_identical_run: bool = Field(
        True,
        description="training/cd: answer a run identical to an earlier one (config, data, code, libraries, "
        "champion) from its record, without a new ZenML run (olist_pipeline/runs/reuse.py)",
    )


class DatasetSpec(_Spec):
    """Where the input data comes from and in which layout."""

    name: str
    format: Literal["merged_csv", "kaggle_folder"] = "merged_csv"
    path: str = Field(
        description="merged_csv: a CSV (or .csv.gz) file; kaggle_folder: the folder of the Kaggle CSVs. "
        "Relative paths start at the project root"
    )
    target: str = "review_score"
    sha256: str | None = Field(
        None, description="Expected fingerprint of the file; the run stops if the bytes differ."
    )


class CleaningSpec(_Spec):
    """How rows are cleaned before features are built."""

    strategy: Literal["impute_median", "drop_incomplete"]
    drop_duplicate_rows: bool = True
    valid_order_statuses: list[str] | None = Field(
        None, description="Keep only rows with these order_status values (None keeps all)."
    )


class FeaturesSpec(_Spec):
    """Which model inputs a feature set uses. Derived features are named in `features.DERIVED` (checked,
    with the estimator's parameters, by `runs.common.check_model` where scikit-learn is imported anyway)."""

    name: str
    numeric: list[str] = Field(default_factory=list, description="raw numeric columns used as they are")
    derived: list[str] = Field(default_factory=list, description="features computed from raw columns")
    categorical: list[str] = Field(default_factory=list, description="raw columns one-hot encoded")

    @field_validator("numeric", "categorical")
    @classmethod
    def _known_columns(cls, columns: list[str]) -> list[str]:
        from olist_pipeline.domain.data.kaggle import EXTRA_COLUMNS
        from olist_pipeline.domain.data.schema import MERGED_COLUMNS, TARGET_AND_LEAKY_COLUMNS

        known = [*MERGED_COLUMNS, *EXTRA_COLUMNS]
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; valid: {sorted(known)}")
        leaky = [c for c in columns if c in TARGET_AND_LEAKY_COLUMNS]
        if leaky:
            raise ValueError(f"{leaky} are written with or after the review and would leak the target")
        return columns

    @model_validator(mode="after")
    def _not_empty(self) -> FeaturesSpec:
        if not (self.numeric or self.derived or self.categorical):
            raise ValueError("a feature set needs at least one feature")
        return self


class SplitSpec(_Spec):
    """How rows are divided into train and test (and validation, for anything that tunes)."""

    strategy: Literal["random", "grouped", "temporal"]
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    validation_size: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of the training side held out for tuning"
    )
    group_column: str = "order_id"
    time_column: str = "order_purchase_timestamp"
    cutoff: str | None = Field(None, description="temporal: first test timestamp (default: by test_size)")
    seed: int = 42

    @property
    def needs_columns(self) -> list[str]:
        """Raw columns the split reads besides the model inputs."""
        return [self.time_column] if self.strategy == "temporal" else [self.group_column]


class ModelSpec(_Spec):
    """A scikit-learn regressor: `_target_` is its import path, every other key a constructor argument."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str
    target: str = Field(alias="_target_")

    @property
    def params(self) -> dict[str, Any]:
        """The estimator's constructor arguments."""
        return dict(self.model_extra or {})


class EvaluationSpec(_Spec):
    """What is measured on the test split."""

    split: Literal["test", "validation"] = Field(
        "test", description="rows scored: test (final metrics, the gate) or validation (hyper-parameter search)"
    )
    metrics: list[Literal["mse", "rmse", "mae", "r2"]] = ["mse", "rmse", "mae", "r2"]
    primary_metric: Literal["mse", "rmse", "mae", "r2"] = "rmse"
    low_score_max: int = Field(2, ge=1, le=4, description="reviews at or below this are 'low'")
    report: bool = Field(True, description="plots and permutation importance (MLflow + ZenML HTML)")
    permutation_repeats: int = Field(3, ge=1)
    seed: int = 42


class ComponentSpec(_Spec):
    """One ZenML stack component, declared: the program registers or updates it to match."""

    name: str
    flavor: str
    configuration: dict[str, Any] = Field(default_factory=dict)


class ZenMLStoreSpec(_Spec):
    """A ZenML server to use as the store; credentials come from the named environment variables."""

    url: str
    username_env: str
    password_env: str


class StackSpec(_Spec):
    """A ZenML stack, declared. `zenml_config_path` isolates the ZenML client state of this stack."""

    name: str
    zenml_config_path: str
    zenml_store: ZenMLStoreSpec | None = Field(None, description="None: the local SQLite store under zenml_config_path")
    secrets: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="ZenML secret -> key -> name of the environment variable holding the value"
    )
    health_checks: dict[str, str] = Field(
        default_factory=dict, description="service name -> URL that must answer 200 before a run starts"
    )
    services: dict[str, Any] | None = Field(None, description="what `make services-up` starts (scripts/services.py)")
    components: dict[
        Literal[
            "orchestrator", "artifact_store", "experiment_tracker", "model_registry", "model_deployer",
            "container_registry", "image_builder", "step_operator",
        ],
        ComponentSpec,
    ]  # fmt: skip
    mlflow_tracking_uri: str
    mlflow_artifact_location: str | None = None

    @property
    def steps_run_here(self) -> bool:
        """Whether the steps run in the process that starts the run (ZenML's local orchestrator)."""
        return self.components["orchestrator"].flavor == "local" and "step_operator" not in self.components

    @model_validator(mode="after")
    def _required_components(self) -> StackSpec:
        missing = {"orchestrator", "artifact_store", "experiment_tracker"} - set(self.components)
        if missing:
            raise ValueError(f"stack {self.name!r} lacks required component(s) {sorted(missing)}")
        return self


class TrackingSpec(_Spec):
    """Names under which runs and models are recorded."""

    experiment_name: str
    run_name_prefix: str = "olist"
    model_name: str = Field("olist_review_score", description="ZenML Model and MLflow registered model")


class PromotionSpec(_Spec):
    """The gate between a trained candidate and the production model."""

    enabled: bool = True
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="<metric>_min / <metric>_max over the test metrics"
    )
    compare_metric: str = "r2"
    min_improvement: float = Field(0.0, ge=0.0)

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        from olist_pipeline.domain.promotion import parse_threshold

        for key in thresholds:
            parse_threshold(key)  # raises ValueError naming the valid forms
        return thresholds

    @field_validator("compare_metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        from olist_pipeline.domain.promotion import GATE_METRICS

        if metric not in GATE_METRICS:
            raise ValueError(f"unknown metric {metric!r}; valid: {sorted(GATE_METRICS)}")
        return metric


class ServingSpec(_Spec):
    """Where and how the production model is served over HTTP."""

    host: str = "127.0.0.1"
    port: int = Field(5055, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    threads_per_worker: int = Field(
        1, ge=1, description="OMP/BLAS threads of each worker: more workers, not threads, for concurrent requests"
    )
    start_timeout_s: float = Field(180, gt=0)
    state_dir: str


class RunSpec(_Spec):
    """Everything one run needs, typed."""

    pipeline: PipelineSpec
    dataset: DatasetSpec
    cleaning: CleaningSpec
    features: FeaturesSpec
    split: SplitSpec
    model: ModelSpec
    evaluation: EvaluationSpec
    stack: StackSpec
    tracking: TrackingSpec
    promotion: PromotionSpec
    serving: ServingSpec
    paths: dict[str, str]
    seed: int = 42
    model_version: str | None = Field(
        None, description="lineage/inference/deploy: a ZenML version number, production, latest or mlflow:N"
    )

    @model_validator(mode="after")
    def _validation_rows_exist(self) -> RunSpec:
        if self.evaluation.split == "validation" and self.split.validation_size <= 0:
            raise ValueError("evaluation.split=validation needs split.validation_size > 0")
        return self

    @field_validator("model_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    enable_cache: bool = True
    env: str = Field("base", description="name of the env overlay applied (dev, prod) or 'base'")


def _format_errors(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        got = "" if e["type"] in ("missing", "value_error") else f" (got {e['input']!r})"
        lines.append(f"{key}: {msg}{got}")
    return "; ".join(lines)


def build_run_spec(config: dict[str, Any]) -> RunSpec:
    """Validate a resolved config (plain dict from Hydra/OmegaConf) into a `RunSpec`.

    Raises:
        ConfigError: naming each invalid key and why.
    """
    try:
        return RunSpec.model_validate(config)
    except ValidationError as err:
        raise ConfigError(f"invalid configuration: {_format_errors(err)}") from None

