"""reproduce: re-run a model version's training from its record and check that it matches.

    run_reproduce
      -> record          the version's training run (stack.lineage.trace): git commit, overrides, flat
                         config, data path and sha256, library versions
      -> preconditions   a clean commit this repository has, the same data bytes, the same libraries
                         (or `+reproduce.allow_library_drift=true`: the verdict says it is weaker)
      -> retrain         `python -m olist_pipeline` with the recorded overrides, run from a temporary git
                         worktree of that commit, in a scratch state directory, promotion off: nothing
                         is written to this project's stores but the verdict
      -> export          both runs' metrics, config, split and predictions on the version's own test
                         rows, each read with that commit's code (stack/run_export.py)
      -> judge           domain.reproduce.verdict
      -> record_verdict  `reproduced: yes|no, checked <date>` on the version (ZenML metadata, MLflow tags)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from olist_pipeline.config.spec import RunSpec
from olist_pipeline.domain.reproduce import (
    RunOutcome,
    Verdict,
    commit_refusal,
    library_differences,
    rerun_overrides,
    verdict,
)
from olist_pipeline.errors import DataError, ReproductionError
from olist_pipeline.paths import PROJECT_ROOT
from olist_pipeline.stack import logs, repository, run_export
from olist_pipeline.stack.infra import configure_environment, connect
from olist_pipeline.stack.tracking import library_versions

#: Environment variables that point a process at a ZenML/MLflow store: a re-run must pick its own.
STORE_VARIABLES = ("ZENML_CONFIG_PATH", "ZENML_REPOSITORY_PATH", "ZENML_STORE_URL", "ZENML_STORE_USERNAME",
                   "ZENML_STORE_PASSWORD", "ZENML_STORE_API_KEY", "MLFLOW_TRACKING_URI")  # fmt: skip


@dataclass
class Reproduction:
    """A reproduce job's outcome: what was re-run, the verdict, and what was recorded on the version."""

    model_name: str
    version: int
    commit: str
    data_path: str
    data_sha256: str
    rerun: list[str]  # the re-run's overrides
    verdict: Verdict
    recorded_as: str  # "yes, checked 2026-12-07 10:31"
    kept: str | None = None  # the scratch directory, when kept (reproduce.keep_scratch=true)

    @property
    def label(self) -> str:
        return f"{self.model_name} v{self.version}"


def run_reproduce(spec: RunSpec, say: Callable[[str], None] = lambda _line: None) -> Reproduction:
    """Re-run the training of `spec.model_version` (default: latest) and record whether it matched.
    `say` receives a line before each long part (re-training, reading the runs).

    Raises:
        ReproductionError: the version cannot be re-run from its record (dirty or unknown commit,
            library versions differ) or the re-run failed.
        DataError: the recorded data file no longer has the recorded bytes.
    """
    configure_environment(spec.stack)
    connect(spec.stack)
    logs.install()
    from olist_pipeline.stack.lineage import trace

    record = trace(spec.tracking.model_name, spec.model_version)
    drift = preconditions(spec, record)
    scratch = Path(tempfile.mkdtemp(prefix=f"olist-reproduce-v{record.version}-"))
    keep = spec.reproduce.keep_scratch
    try:
        overrides, recorded, reproduced = rerun_and_read(record, scratch, say)
    except BaseException as exc:
        keep = True
        if isinstance(exc, ReproductionError):
            raise ReproductionError(f"{exc} (scratch kept: {scratch})") from None
        raise
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    result = verdict(recorded, reproduced, spec.reproduce.tolerance, drift)
    recorded_as = record_verdict(record, result, overrides)
    return Reproduction(
        model_name=record.model_name, version=record.version, commit=record.git_commit,
        data_path=record.data.get("path", ""), data_sha256=record.data.get("sha256", ""), rerun=overrides,
        verdict=result, recorded_as=recorded_as, kept=str(scratch) if keep else None,
    )  # fmt: skip


def rerun_and_read(record: Any, scratch: Path, say: Callable[[str], None]) -> tuple[list[str], RunOutcome, RunOutcome]:
    """In a worktree of the recorded commit under `scratch`: train again, and read both runs with that
    commit's code. Returns the re-run's overrides, the version's outcome and the re-run's."""
    with repository.worktree(PROJECT_ROOT, record.git_commit, scratch / "code") as code:
        state = scratch / "state"
        say(f"re-training  v{record.version} from commit {record.git_commit[:12]} in {code} (scratch state {state})")
        # The version's own run is read while the re-run trains (reading it needs only the worktree).
        reading = start_export(record.model_name, str(record.version), code, scratch / "recorded", dict(os.environ))
        try:
            overrides = retrain(record, code, state, scratch / "retrain.log")
        except BaseException:
            reading.process.kill()
            reading.process.wait()
            raise
        recorded = finish_export(reading)
        say("comparing    both runs' metrics, config, split and predictions, read with that commit's code")
        rerun = start_export(
            record.model_name, "latest", code, scratch / "reproduced", store_environment(state / "zenml"),
            rows=scratch / "recorded" / "rows.pkl",
        )  # fmt: skip
        return overrides, recorded, finish_export(rerun)


def preconditions(spec: RunSpec, record: Any) -> list[str]:
    """Refuse what cannot be reproduced, with one line naming the reason. Returns the library
    differences the user allowed (empty when the installed versions are the recorded ones)."""
    label = f"{record.model_name} v{record.version}"
    refusal = commit_refusal(record.git_commit, label)
    if refusal:
        raise ReproductionError(refusal)
    if not repository.is_repository(PROJECT_ROOT):
        raise ReproductionError(f"{PROJECT_ROOT} is not a git repository: the commit of {label} cannot be checked out")
    if not repository.has_commit(PROJECT_ROOT, record.git_commit):
        raise ReproductionError(
            f"{label} was trained from commit {record.git_commit[:12]}, which the repository at {PROJECT_ROOT} "
            "does not have (git fetch it, or reproduce from a clone that has it)"
        )
    path, sha, now = (record.data.get(key, "") for key in ("path", "sha256", "now"))
    if not sha:
        raise ReproductionError(f"{label} has no recorded data sha256: its input cannot be checked")
    if now != sha:
        raise DataError(f"{label}: the data changed since training: {path} had sha256 {sha}, now {now}")
    if record.libraries:
        drift = library_differences(record.libraries, library_versions())
    else:
        drift = ["the record holds no library versions (trained before they were recorded)"]
    if drift and not spec.reproduce.allow_library_drift:
        raise ReproductionError(
            f"{label}: installed libraries differ from the record: {'; '.join(drift)} "
            "(+reproduce.allow_library_drift=true re-runs anyway, with a weaker verdict)"
        )
    return drift


def _override_value(value: str) -> str:
    """A value as a Hydra override can take it: quoted unless it is a plain path or word."""
    if re.fullmatch(r"[\w./:@+-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def retrain(record: Any, code: Path, state: Path, log: Path) -> list[str]:
    """Train again with the recorded overrides, from the worktree `code`, into the scratch `state`
    (local stack, promotion off, the data pinned to the recorded file and bytes). Returns the overrides."""
    forced = {
        "pipeline": "training",
        "stack": "local",
        "paths.state_dir": _override_value(str(state)),
        "stack.zenml_config_path": _override_value(str(state / "zenml")),
        "promotion.enabled": "false",
        "dataset.path": _override_value(record.data["path"]),
        "dataset.sha256": record.data["sha256"],
    }
    overrides = rerun_overrides(record.overrides, forced)
    env = {**store_environment(None), "OLIST_RESIDENT": "off"}  # the resident runner runs this checkout's code
    with open(log, "w") as handle:
        finished = subprocess.run(
            [sys.executable, "-m", "olist_pipeline", *overrides], cwd=code, env=_on_path(env, code),
            stdout=handle, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    if finished.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        reason = next((l for l in reversed(lines) if l.startswith("error:")), lines[-1] if lines else "no output")
        raise ReproductionError(f"re-training v{record.version} failed ({reason.removeprefix('error: ')}); log: {log}")
    return overrides


def store_environment(zenml_home: Path | None) -> dict[str, str]:
    """This process's environment without its store settings; pointed at the local store in
    `zenml_home` when given."""
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARIABLES}
    if zenml_home is not None:
        env["ZENML_CONFIG_PATH"] = env["ZENML_REPOSITORY_PATH"] = str(zenml_home)
    return env


def _on_path(env: Mapping[str, str], code: Path) -> dict[str, str]:
    """`env` with the worktree first on PYTHONPATH: its package, not the installed one, is imported."""
    path = os.pathsep.join(p for p in (str(code), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path}


@dataclass
class Export:
    """A running stack/run_export.py: which version it reads, into which directory."""

    process: subprocess.Popen[str]
    what: str
    out_dir: Path


def start_export(
    model_name: str, reference: str, code: Path, out_dir: Path, env: Mapping[str, str], rows: Path | None = None
) -> Export:
    """Start reading what a version's training run produced (stack/run_export.py), with the worktree's code,
    from the store `env` points at: predictions on `rows` (default: its own test rows, written for the other run)."""
    out_dir.mkdir(parents=True)
    script = Path(run_export.__file__)
    args = [sys.executable, "-P", str(script), model_name, reference, str(out_dir), *([str(rows)] if rows else [])]
    process = subprocess.Popen(
        args, cwd=code, env=_on_path(env, code), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return Export(process, f"{model_name} {reference}", out_dir)


def finish_export(export: Export) -> RunOutcome:
    """Wait for an export and load what it wrote."""
    import pandas as pd

    output, _ = export.process.communicate()
    if export.process.returncode != 0:
        lines = output.strip().splitlines() or ["no output"]
        raise ReproductionError(f"reading the run of {export.what} failed: {lines[-1]}")
    out_dir = export.out_dir
    record = json.loads((out_dir / "record.json").read_text())
    return RunOutcome(
        metrics=record["metrics"],
        params=record["params"],
        partition=pd.read_pickle(out_dir / "partition.pkl"),
        predictions=pd.read_pickle(out_dir / "predictions.pkl").to_numpy(),
    )


def record_verdict(record: Any, result: Verdict, overrides: list[str]) -> str:
    """`reproduced: yes|no, checked <date>` on the version (ZenML metadata and MLflow tags); the text."""
    from olist_pipeline.stack import registry

    checked = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    details = {
        "answer": result.answer,
        "checked": checked,
        "summary": result.summary,
        "commit": record.git_commit,
        "data_sha256": record.data.get("sha256", ""),
        "rerun_overrides": " ".join(overrides),
        "failed_checks": [f"{c.name}: {c.difference}" for c in result.failures],
    }
    ref = registry.resolve(record.model_name, str(record.version))
    return registry.record_reproduction(ref, (record.mlflow or {}).get("run_id"), result.answer, checked, details)
