"""compare: two model versions side by side (`pipeline=compare a=N b=M`).

The config keys that differ, the data (sha256, rows per partition), the code (`git diff --stat` between
the two commits), both models scored on b's test rows (as the gate re-scores a champion) and both gate
outcomes. The page is also logged, as markdown, to b's MLflow run.
"""

from __future__ import annotations

from dataclasses import dataclass

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.domain.comparison import Comparison, data_rows, score_on_same_rows
from olist_pipeline.domain.reproduce import config_differences
from olist_pipeline.domain.splits import TEST
from olist_pipeline.paths import PROJECT_ROOT
from olist_pipeline.stack import logs, repository
from olist_pipeline.stack.infra import configure_environment, connect


@dataclass
class CompareResult:
    comparison: Comparison
    logged_to: str | None  # runs:/<b's MLflow run>/compare/vA_vs_vB.md


def code_difference(a: str, b: str, labels: tuple[str, str]) -> str:
    """`git diff --stat` between two recorded commits, or why it cannot be shown."""
    notes = [f"{label} was trained with uncommitted changes (not shown)" for label, c in zip(labels, (a, b)) if c.endswith("-dirty")]
    a, b = a.removesuffix("-dirty"), b.removesuffix("-dirty")
    missing = [f"{label}: commit {c[:12] or 'unknown'} not in {PROJECT_ROOT}" for label, c in zip(labels, (a, b))
               if c in ("", "unknown") or not repository.has_commit(PROJECT_ROOT, c)]  # fmt: skip
    if missing:
        return "\n".join(missing + notes)
    head = f"same commit {a[:12]}" if a == b else f"git diff --stat {a[:12]} {b[:12]}\n{repository.diff_stat(PROJECT_ROOT, a, b)}"
    return "\n".join([head.rstrip(), *notes])


def run_compare(spec: RunSpec) -> CompareResult:
    """Compare versions `spec.a` and `spec.b` of `tracking.model_name`."""
    configure_environment(spec.stack)
    connect(spec.stack)
    logs.install()
    from olist_pipeline.stack import registry
    from olist_pipeline.stack.lineage import run_output, trace, training_run

    name = spec.tracking.model_name
    a, b = trace(name, spec.a), trace(name, spec.b)
    labels = (f"v{a.version}", f"v{b.version}")
    run_a, run_b = training_run(a.version_id), training_run(b.version_id)
    partition_a, partition_b = run_output(run_a, "split", "partition"), run_output(run_b, "split", "partition")
    models = {labels[0]: registry.load_model(registry.get_version(name, a.version)),
              labels[1]: registry.load_model(registry.get_version(name, b.version))}  # fmt: skip
    scores = score_on_same_rows(
        models, run_output(run_b, "clean", "clean_orders"), run_output(run_b, "build_features", "target"),
        partition_b, spec.evaluation.metrics, spec.task.scoring(spec.evaluation.low_score_max),
    )  # fmt: skip
    comparison = Comparison(
        model_name=name,
        a=a.version,
        b=b.version,
        config=config_differences(a.params, b.params),
        data=data_rows(a.data, b.data, partition_a, partition_b),
        code=code_difference(a.git_commit, b.git_commit, labels),
        scored_rows=int((partition_b.astype(str) == TEST).sum()),
        scores=scores,
        gates={labels[0]: a.promotion or "-", labels[1]: b.promotion or "-"},
    )
    run_id = (b.mlflow or {}).get("run_id")
    logged = registry.log_comparison(run_id, comparison.markdown(), f"compare/{labels[0]}_vs_{labels[1]}.md") if run_id else None
    return CompareResult(comparison, logged)
