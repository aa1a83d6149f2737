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


def _some(names: Any, shown: int = 8) -> str:
    """`names` for a message: all of a short list, the first few of a long one."""
    names = list(names)
    listed = ", ".join(names[:shown])
    return f"declared: {listed}" + (f", ... ({len(names)} in all)" if len(names) > shown else "")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSpec(_Spec):
    """Which pipeline to run."""

    name: Literal["training", "deploy", "undeploy", "inference", "lineage", "cd", "reproduce", "compare"] = "training"
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


class ColumnSpec(_Spec):
    """One declared column: its type and the checks every value must pass."""

    type: Literal["str", "int", "float", "bool", "datetime"] = Field(
        description="datetime: ISO 8601 text, checked parseable; int with nullable: read as float"
    )
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = Field(None, description="the only values allowed")
    unique: bool = False
    required: bool = Field(True, description="false: the column may be absent (checked when present)")


class BinaryLabelSpec(_Spec):
    """How a column becomes a yes/no label: equal to `positive`, at most `at_most`, at least `at_least`,
    or (none set) the larger of exactly two values."""

    name: str = Field("positive", description="what the label means, e.g. low_review (names outputs and the model)")
    column: str | None = Field(None, description="the label's column (default: the dataset's target)")
    positive: str | int | float | bool | None = None
    at_most: float | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> BinaryLabelSpec:
        rules = [k for k in ("positive", "at_most", "at_least") if getattr(self, k) is not None]
        if len(rules) > 1:
            raise ValueError(f"give at most one of positive, at_most, at_least (got {rules})")
        return self


class DatasetSpec(_Spec):
    """A declared table: where it is, its columns and their checks, its target, and the columns that
    keep rows together (group), order them (time), identify them (ids) or must never be features."""

    name: str
    format: Literal["csv", "parquet", "kaggle_folder"] = Field(
        "csv", description="csv / parquet: a file or a folder of them; kaggle_folder: the registered Olist join"
    )
    path: str = Field(description="file or folder; relative paths start at the project root")
    sha256: str | None = Field(
        None, description="Expected fingerprint of the input; the run stops if the bytes differ."
    )
    target: str = Field(description="the column a model predicts")
    model_name: str = Field(description="registered model / experiment name (the task may add a suffix)")
    id_columns: list[str] = Field(default_factory=list, description="identify a row in predictions")
    group_column: str | None = Field(None, description="rows sharing a value stay on one side of a grouped split")
    time_column: str | None = Field(None, description="what a temporal split orders rows by")
    binary: BinaryLabelSpec | None = Field(None, description="task=binary: the label this table offers")
    never_features: list[str] = Field(
        default_factory=list, description="columns that reveal the target: never features, optional at inference"
    )
    soft_checks: list[str] = Field(default_factory=list, description="registered soft checks (domain/data/checks.py)")
    columns: dict[str, ColumnSpec] = Field(description="column -> type and checks, in the table's order")

    @field_validator("format", mode="before")
    @classmethod
    def _old_format_name(cls, value: object) -> object:
        return "csv" if value == "merged_csv" else value

    @field_validator("soft_checks")
    @classmethod
    def _registered_checks(cls, names: list[str]) -> list[str]:
        from olist_pipeline.domain.data.checks import SOFT_CHECKS

        unknown = [n for n in names if n not in SOFT_CHECKS]
        if unknown:
            raise ValueError(f"unknown soft check(s) {unknown}; registered: {sorted(SOFT_CHECKS)}")
        return names

    @model_validator(mode="after")
    def _declared_columns(self) -> DatasetSpec:
        named = {
            "target": [self.target],
            "group_column": [self.group_column] if self.group_column else [],
            "time_column": [self.time_column] if self.time_column else [],
            "id_columns": self.id_columns,
            "never_features": self.never_features,
            "binary.column": [self.binary.column] if self.binary and self.binary.column else [],
        }
        for key, columns in named.items():
            missing = [c for c in columns if c not in self.columns]
            if missing:
                raise ValueError(f"{key}: {missing} not among the declared columns ({_some(self.columns)})")
        return self

    def table(self) -> Any:
        """The declaration as the domain's `TableDeclaration` (what `validate_table` checks against)."""
        from olist_pipeline.domain.data.schema import TableDeclaration

        return TableDeclaration.from_mapping(
            self.name,
            {c: rule.model_dump() for c, rule in self.columns.items()},
            self.target,
            tuple(self.never_features),
            tuple(self.soft_checks),
            (self.binary.column,) if self.binary and self.binary.column else (),
        )


class TaskSpec(_Spec):
    """What the model predicts: the target as a number (regression) or a yes/no label (binary)."""

    name: str
    kind: Literal["regression", "binary"]
    label: BinaryLabelSpec | None = Field(None, description="binary: how the label is made (from dataset.binary)")
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="binary: probability at or above which the label is 1")
    top_k_share: float = Field(0.1, gt=0.0, le=1.0, description="binary: recall_at_top_k looks at this share of rows")
    suffix: str = Field("", description="appended to the dataset's model name (one registered model per task)")

    def scoring(self, low_score_max: int = 2) -> Any:
        """How this task's predictions are scored (the domain's `Scoring`)."""
        from olist_pipeline.domain.tasks import Scoring

        return Scoring(self.kind, low_score_max, self.decision_threshold, self.top_k_share)

    def binary_label(self, target: str) -> Any:
        """The domain's `BinaryLabel` (binary tasks; the label column defaults to the dataset's target)."""
        from olist_pipeline.domain.tasks import BinaryLabel

        label = self.label or BinaryLabelSpec()
        return BinaryLabel(label.name, label.column or target, label.positive, label.at_most, label.at_least)

    @property
    def output_name(self) -> str:
        """What a prediction is called in outputs: the label's name (binary) or the task's."""
        return self.label.name if self.kind == "binary" and self.label else self.name


class CleaningSpec(_Spec):
    """How rows are cleaned before features are built."""

    strategy: Literal["impute_median", "drop_incomplete"]
    drop_duplicate_rows: bool = True
    valid_order_statuses: list[str] | None = Field(
        None, description="Keep only rows with these order_status values (None keeps all)."
    )


DatetimePart = Literal["year", "month", "day", "weekday", "hour", "dayofyear"]


class FeaturesSpec(_Spec):
    """Which model inputs a feature set uses: raw columns of the declared table (numeric, categorical,
    parts of datetimes) and registered derived features, named in `features.DERIVED` (checked, with the
    estimator's parameters, by `runs.common.check_model` where scikit-learn is imported anyway)."""

    name: str
    numeric: list[str] = Field(default_factory=list, description="raw numeric columns used as they are")
    derived: list[str] = Field(default_factory=list, description="registered features computed from raw columns")
    categorical: list[str] = Field(default_factory=list, description="raw columns one-hot encoded")
    datetime_parts: dict[str, list[DatetimePart]] = Field(
        default_factory=dict, description="datetime column -> parts used as numbers (<column>_<part>)"
    )
    fitted: list[str] = Field(
        default_factory=list,
        description="registered features learned from the training rows, point in time (features.FITTED), "
        "carried inside the saved model",
    )

    @property
    def raw_columns(self) -> list[str]:
        """The declared columns this feature set names directly."""
        return [*self.numeric, *self.categorical, *self.datetime_parts]

    @model_validator(mode="after")
    def _not_empty(self) -> FeaturesSpec:
        if not (self.numeric or self.derived or self.categorical or self.datetime_parts or self.fitted):
            raise ValueError("a feature set needs at least one feature")
        return self


class SplitSpec(_Spec):
    """How rows are divided into train and test (and validation, for anything that tunes)."""

    strategy: Literal["random", "grouped", "temporal"]
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    validation_size: float = Field(
        0.0, ge=0.0, lt=1.0, description="share of the training side held out for tuning"
    )
    group_column: str | None = Field(None, description="grouped: default the dataset's group column; none: rows")
    time_column: str | None = Field(None, description="temporal: default the dataset's time column")
    cutoff: str | None = Field(None, description="temporal: first test timestamp (default: by test_size)")
    seed: int = 42

    @property
    def needs_columns(self) -> list[str]:
        """Raw columns the split reads besides the model inputs."""
        column = self.time_column if self.strategy == "temporal" else self.group_column
        return [column] if column else []


class ModelSpec(_Spec):
    """A scikit-learn regressor or classifier (as the task needs): `_target_` is its import path, every
    other key a constructor argument."""

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
    metrics: list[str] = Field(description="what is measured (the task sets them: conf/task/)")
    primary_metric: str = Field(description="what a sweep ranks and an Optuna search optimises")
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
    model_name: str = Field(description="ZenML Model and MLflow registered model")


class PromotionSpec(_Spec):
    """The gate between a trained candidate and the production model."""

    enabled: bool = True
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="<metric>_min / <metric>_max over the test metrics"
    )
    compare_metric: str = Field(description="what the candidate must beat the champion on (the task sets it)")
    min_improvement: float = Field(0.0, ge=0.0)

    @field_validator("thresholds")
    @classmethod
    def _known_thresholds(cls, thresholds: dict[str, float]) -> dict[str, float]:
        from olist_pipeline.domain.promotion import parse_threshold

        for key in thresholds:
            parse_threshold(key)  # raises ValueError naming the valid forms
        return thresholds


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


class ReproduceSpec(_Spec):
    """pipeline=reproduce: how strict the check is (`+reproduce.<key>=...` on the command line)."""

    tolerance: float = Field(1e-9, ge=0.0, description="largest absolute difference of a metric or prediction")
    allow_library_drift: bool = Field(
        False, description="re-run even if installed library versions differ from the record (a weaker verdict)"
    )
    keep_scratch: bool = Field(False, description="keep the scratch state directory of the re-run (kept anyway on failure)")


class RunSpec(_Spec):
    """Everything one run needs, typed."""

    pipeline: PipelineSpec
    dataset: DatasetSpec
    task: TaskSpec
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
        None, description="lineage/inference/deploy/reproduce: a ZenML version number, production, latest or mlflow:N"
    )
    a: str | None = Field(None, description="compare: the first model version (as model_version)")
    b: str | None = Field(None, description="compare: the second model version; both are scored on its test rows")
    reproduce: ReproduceSpec = Field(default_factory=ReproduceSpec)

    @model_validator(mode="after")
    def _compare_names_two_versions(self) -> RunSpec:
        if self.pipeline.name == "compare" and (self.a is None or self.b is None):
            raise ValueError("pipeline=compare needs two model versions: a=<version> b=<version>")
        return self

    @model_validator(mode="after")
    def _validation_rows_exist(self) -> RunSpec:
        if self.evaluation.split == "validation" and self.split.validation_size <= 0:
            raise ValueError("evaluation.split=validation needs split.validation_size > 0")
        return self

    @model_validator(mode="after")
    def _fits_the_dataset(self) -> RunSpec:
        """Feature columns, split columns and the task's label against the declared table."""
        dataset, features = self.dataset, self.features
        declared = dataset.columns
        unknown = [c for c in features.raw_columns if c not in declared]
        if unknown:
            raise ValueError(
                f"features.{features.name}: column(s) {unknown} not declared by dataset {dataset.name!r} "
                f"({_some(declared)})"
            )
        label_column = self.task.label.column if self.task.kind == "binary" and self.task.label else None
        roles = {c: "declared never_features" for c in dataset.never_features}
        roles[dataset.target] = "the dataset's target"
        if label_column:
            roles[label_column] = "the binary task's label"
        leaky = [f"{c!r} is {roles[c]}" for c in features.raw_columns if c in roles]
        if leaky:
            raise ValueError(
                f"features.{features.name}: {', '.join(leaky)} (dataset {dataset.name!r}): as a feature it would leak the target"
            )
        not_datetime = [c for c in features.datetime_parts if declared[c].type != "datetime"]
        if not_datetime:
            raise ValueError(f"features.{features.name}.datetime_parts: {not_datetime} not declared type datetime")
        for key, column in (("group_column", self.split.group_column), ("time_column", self.split.time_column)):
            if column and column not in declared:
                raise ValueError(f"split.{key}: {column!r} not declared by dataset {dataset.name!r}")
        if self.split.strategy == "temporal" and not self.split.time_column:
            raise ValueError(f"split=temporal needs a time column: dataset {dataset.name!r} declares no time_column")
        return self

    @model_validator(mode="after")
    def _metrics_of_the_task(self) -> RunSpec:
        from olist_pipeline.domain.promotion import parse_threshold
        from olist_pipeline.domain.tasks import METRICS

        kind = self.task.kind
        if kind == "binary" and self.task.label is None:
            raise ValueError(
                f"task=binary: dataset {self.dataset.name!r} declares no binary label (dataset.binary) and "
                "task.label is not set"
            )
        valid = METRICS[kind]
        problems = []
        wrong = [m for m in self.evaluation.metrics if m not in valid]
        if wrong:
            problems.append(f"evaluation.metrics: {wrong} not metrics of task {kind}; valid: {list(valid)}")
        if self.evaluation.primary_metric not in valid:
            problems.append(f"evaluation.primary_metric: {self.evaluation.primary_metric!r} not a metric of task {kind}")
        if self.promotion.compare_metric not in valid:
            problems.append(f"promotion.compare_metric: unknown metric {self.promotion.compare_metric!r} for task {kind}; valid: {list(valid)}")
        for key in self.promotion.thresholds:
            metric, _ = parse_threshold(key)
            if metric not in valid:
                problems.append(f"promotion.thresholds.{key}: {metric!r} is not a metric of task {kind}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("model_version", "a", "b", mode="before")
    @classmethod
    def _version_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    enable_cache: bool = True
    env: str = Field("base", description="name of the env overlay applied (dev, prod) or 'base'")


def _format_errors(err: ValidationError, files: dict[str, str]) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
        got = "" if e["type"] in ("missing", "value_error") else f" (got {e['input']!r})"
        source = files.get(key.split(".")[0])
        where = f"{source}: " if source else ""
        lines.append(f"{msg}{got}" if key == "<root>" else f"{where}{key}: {msg}{got}")
    return "; ".join(lines)


def build_run_spec(config: dict[str, Any], files: dict[str, str] | None = None) -> RunSpec:
    """Validate a resolved config (plain dict from Hydra/OmegaConf) into a `RunSpec`. `files` maps a
    config group to the file its option came from, named in the message of a problem under that group.

    Raises:
        ConfigError: naming each invalid key (and its file) and why.
    """
    try:
        return RunSpec.model_validate(config)
    except ValidationError as err:
        raise ConfigError(f"invalid configuration: {_format_errors(err, files or {})}") from None
