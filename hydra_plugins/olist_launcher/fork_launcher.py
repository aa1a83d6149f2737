"""`hydra/launcher=olist_fork`: a sweep's jobs in processes forked from the sweep's own, `n_jobs` at once.

The Hydra side only: each job's config is composed here as Hydra's basic launcher does it, and
`hydra_plugins.olist_launcher._forkpool` runs `run_job` for it in a forked child (why fork, and what keeps it safe: see
that module). Hydra imports every module of `hydra_plugins` when it starts, so this one imports nothing
heavy.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger("hydra.olist_fork")  # under `hydra`: printed with Hydra's own launch messages


class ForkedJobError(RuntimeError):
    """A forked job's process ended without handing back its result."""


class OlistForkLauncher(Launcher):
    def __init__(self, n_jobs: int | None = None, inner_threads: int | None = None, preload: bool = True) -> None:
        """`n_jobs`: jobs at once (default: the CPU count). `inner_threads`: OpenMP/BLAS threads per job
        (default: CPUs / n_jobs, at least 1). `preload`: import what a pipeline job imports once, in the
        sweep's process, before forking (otherwise every job imports it)."""
        self.preload = preload
        self.n_jobs = int(n_jobs) if n_jobs else (os.cpu_count() or 1)
        if self.n_jobs < 1:
            raise ValueError(f"hydra.launcher.n_jobs must be at least 1, got {n_jobs}")
        self.inner_threads = int(inner_threads) if inner_threads else max(1, (os.cpu_count() or 1) // self.n_jobs)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra_plugins.olist_launcher._forkpool import ForkUnsafe, run_forked
        from olist_pipeline.app.sweep import preload_jobs, record_lost_job

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Launching {len(job_overrides)} jobs, {self.n_jobs} at a time in forked processes "
                 f"({self.inner_threads} thread(s) each), sweep output dir: {sweep_dir}")  # fmt: skip
        configs = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = idx
                sweep_config.hydra.job.num = idx
            configs.append(sweep_config)
        tasks = [
            functools.partial(run_job, hydra_context=self.hydra_context, task_function=self.task_function,
                              config=cfg, job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
            for cfg in configs
        ]  # fmt: skip
        if self.preload:
            preload_jobs(configs)
        try:
            outcomes = run_forked(tasks, self.n_jobs, self.inner_threads)
        except ForkUnsafe as exc:
            # on stderr, not the log: this project's runs print no Hydra log lines
            print(f"warning: hydra/launcher=olist_fork cannot fork here ({exc}); running the jobs one after "
                  "another", file=sys.stderr, flush=True)  # fmt: skip
            outcomes = None
        if outcomes is None:
            runs = []
            for task in tasks:
                runs.append(task())
                configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            return runs
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        runs = []
        for overrides, cfg, outcome in zip(job_overrides, configs, outcomes):
            if outcome.error is None and isinstance(outcome.value, JobReturn):
                runs.append(outcome.value)
            elif record_lost_job(sweep_dir, cfg.hydra.job.num, list(overrides), outcome.error or "no result"):
                # as a failing job of this project ends: recorded as failed, NaN to the sweeper (an Optuna
                # trial fails), the other jobs go on, and the sweep's summary exits non-zero at the end
                runs.append(JobReturn(overrides=list(overrides), cfg=cfg, status=JobStatus.COMPLETED,
                                      _return_value=float("nan")))  # fmt: skip
            else:  # a sweep without this project's callback: Hydra's own convention
                error = ForkedJobError(f"job #{cfg.hydra.job.num} ({' '.join(overrides)}): {outcome.error}")
                runs.append(JobReturn(overrides=list(overrides), cfg=cfg, status=JobStatus.FAILED, _return_value=error))
        return runs
