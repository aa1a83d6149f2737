"""`make bench`: what the framework costs over the plain script a user would otherwise write.

Whole processes, wall time and peak RSS, median of `--repeats` alternating rounds, at each data size
(the embedded sample, the project's generator scaled to ~100k and ~1M merged-table rows, and the real
merged table from ../shared when present):

  - plain script      scripts/plain_baseline.py: same data, cleaning, features, split, model, metrics
  - pipeline cold     `python -m olist_pipeline +env=dev evaluation.report=false` in a new ZenML/MLflow home
                      (the plain script's work: no evaluation report); its stores are copies of the store
                      templates (olist_pipeline/speed/store_templates.py), built once before the first size
  - cold, no templates
                      the same in a new home with `OLIST_STORE_TEMPLATES=off`: ZenML and MLflow create and
                      migrate their stores (a machine's very first run)
  - pipeline warm     the same command again in that home with `enable_cache=false`: every step runs, but
                      the stores exist (a user's usual run after changing something)
  - pipeline cached   the same command again in that home with `pipeline.reuse_identical_run=false`:
                      ZenML serves every step from its cache (the gate still runs)
  - identical re-run  the same command again with the default settings: answered from the earlier run's
                      record (olist_pipeline/runs/reuse.py) without starting ZenML
  - runner cold / warm / cached
                      the cold, warm and cached commands through the resident runner
                      (olist_pipeline/speed/resident.py; started once, before the first size): the process that
                      calls it is timed; the peak RSS is the forked child's (it includes the pages it shares
                      with the runner)

and, once, `--help`, the import floor (a process that only imports ZenML, MLflow, scikit-learn and
pandas) and a run on the sample interrupted during a store read (scripts/interrupted_run.py: how long it
takes to end). For the cold runs it splits each step's time into the step's own work (the plain script's
time for the same phase) and the framework's (the rest: loading and storing artifacts, metadata,
tracking), and what the process spent outside the steps (imports, stores, provisioning, compiling).

Writes its section of BENCHMARKS.md (between the bench-overhead markers; the sweep and serving
benchmarks write their own) and prints it.

    python scripts/bench.py [--sizes sample,100k,1m,real] [--repeats 3] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SAMPLE = ROOT / "data" / "olist_sample.csv.gz"
#: The `fixed` row of a run interrupted during a store read (scripts/interrupted_run.py), on the sample.
INTERRUPTED = "run interrupted in a store read, to its end (exit 130)"
REAL = ROOT.parent / "shared" / "data" / "olist" / "merged" / "olist_customers_dataset.csv.gz"
#: Orders per generated size (rows are items x payments: ~1.25 rows per order).
GENERATED = {"100k": 80_000, "1m": 800_000}
STEPS = ("ingest", "clean", "build_features", "split", "train", "evaluate", "promote")
START, END = "<!-- bench-overhead:start -->", "<!-- bench-overhead:end -->"
PROFILE_START, PROFILE_END = "<!-- bench-profile:start -->", "<!-- bench-profile:end -->"
KINDS = ("plain script", "pipeline cold", "cold, no templates", "pipeline warm", "pipeline cached", "identical re-run",
         "runner cold", "runner warm", "runner cached")  # fmt: skip


#: The runner's kinds, in order, in one new home: (kind, extra overrides, text its summary must show).
RUNNER_KINDS = (
    ("runner cold", (), "cached steps none"),
    ("runner warm", ("enable_cache=false",), "cached steps none"),
    ("runner cached", ("pipeline.reuse_identical_run=false",), "cached steps all"),
)


def start_runner(directory: Path, env: dict[str, str]) -> tuple[dict[str, str], float, int]:
    """Start a resident runner of its own; the environment to call it with, its start-up seconds, its pid."""
    env = {**env, "OLIST_RESIDENT_DIR": str(directory)}
    start = time.perf_counter()
    subprocess.run([PY, "-m", "olist_pipeline.speed.resident", "start"], cwd=ROOT, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return {**env, "OLIST_RESIDENT": "require"}, seconds, int((directory / "runner.pid").read_text())


SPEED_REFERENCE = "import pandas, sklearn.ensemble"
SPEED_REPEATS = 3


def speed_reference(repeats: int = SPEED_REPEATS) -> float:
    """Median wall seconds of a new interpreter running `SPEED_REFERENCE` (the plain script's own imports):
    how fast the machine was when a section was measured. The same code's figures drift up to 2x between
    days on this kind of machine, and imports most of all (on 2026-12-02 the import floor took 4.1-4.6 s
    against 2.5 s on 2026-12-01); a pure-Python loop does not show it (a 10M-step one took 0.34 s that day,
    as on a fast core), so the reference is the kind of work the framework's overhead is made of."""
    return statistics.median(measure([PY, "-c", SPEED_REFERENCE], dict(os.environ))[0] for _ in range(repeats))


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU model unknown"


def machine_line(speed_start: float, speed_end: float) -> str:
    """What every section says of the machine: architecture, cores, CPU, Python, and the speed reference
    (`speed_reference`) taken at the section's start and end."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}; "
        f"speed reference (`python -c '{SPEED_REFERENCE}'`, median of {SPEED_REPEATS}) {speed_start:.2f} s at the start, "
        f"{speed_end:.2f} s at the end"
    )


def measure_runner(args: list[str], env: dict[str, str], report: Path) -> tuple[float, float, str]:
    """`measure` of a call the resident runner takes; the peak RSS is its child's."""
    wall, _, out = measure(args, {**env, "OLIST_RESIDENT_REPORT": str(report)})
    return wall, json.loads(report.read_text())["maxrss_kb"] / 1024, out


def measure(args: list[str], env: dict[str, str], exit_code: int = 0) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of one child process; fails loudly if it does not end with
    `exit_code`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        stdout = out.read().decode()
        if os.waitstatus_to_exitcode(status) != exit_code:
            err.seek(0)
            raise RuntimeError(f"{' '.join(args)} failed:\n{err.read().decode()[-3000:]}")
    return wall, rusage.ru_maxrss / 1024, stdout


def step_seconds(home: Path, run_id: str) -> dict[str, float]:
    """Each step's wall time and the whole run's, as ZenML recorded them (read in a child process:
    one ZenML client per process, pointed at that home)."""
    code = (
        "import json, sys\n"
        "from zenml.client import Client\n"
        "run = Client().get_pipeline_run(sys.argv[1])\n"
        "out = {n: (s.end_time - s.start_time).total_seconds() for n, s in run.steps.items()}\n"
        "out['run'] = (run.end_time - run.start_time).total_seconds()\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "ZENML_CONFIG_PATH": str(home / "zenml"), "ZENML_REPOSITORY_PATH": str(home / "zenml"),
           "ZENML_ANALYTICS_OPT_IN": "false", "ZENML_LOGGING_VERBOSITY": "ERROR"}  # fmt: skip
    result = subprocess.run([PY, "-c", code, run_id], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def datasets(sizes: list[str], tmp: Path) -> dict[str, tuple[Path, int]]:
    """name -> (file, rows). Generated sizes are written to `tmp` (never into the repository).

    Generated and counted in child processes: on Linux a child's peak RSS (`ru_maxrss`) starts at its
    parent's size when it was forked, so this process must stay small for the RSS figures to be the
    children's own.
    """
    found: dict[str, tuple[Path, int]] = {}
    for name in sizes:
        if name == "sample":
            path = SAMPLE
        elif name == "real":
            if not REAL.exists():
                print(f"skipping real: {REAL} is absent", file=sys.stderr)
                continue
            path = REAL
        else:
            path = tmp / f"generated_{name}.csv"
            code = "import sys; from olist_pipeline.domain.data.synthetic import generate_merged; "
            code += "generate_merged(int(sys.argv[1]), seed=11).to_csv(sys.argv[2], index=False)"
            subprocess.run([PY, "-c", code, str(GENERATED[name]), str(path)], cwd=ROOT, check=True)
        count = "import sys, pandas; print(len(pandas.read_csv(sys.argv[1], usecols=['order_id'])))"
        rows = int(subprocess.run([PY, "-c", count, str(path)], capture_output=True, text=True, check=True).stdout)
        found[name] = (path, rows)
    return found


def run_args(path: Path) -> list[str]:
    """The benchmarked run's overrides on `path`: the plain script's work (no evaluation report)."""
    return ["+env=dev", f"dataset.path={path}", "evaluation.report=false"]


def bench_size(path: Path, repeats: int, tmp: Path, env: dict[str, str], runner_env: dict[str, str]) -> dict[str, object]:
    """Alternating rounds of the four kinds on one data file; per-step split from every cold run."""
    pipeline = [PY, "-m", "olist_pipeline", *run_args(path)]
    walls: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
    phases: list[dict[str, float]] = []
    steps: list[dict[str, float]] = []
    cold_walls: list[float] = []
    for i in range(repeats):
        timings = tmp / f"phases{i}.json"
        wall, rss, _ = measure([PY, "scripts/plain_baseline.py", "--data", str(path), "--timings", str(timings)], env)
        walls["plain script"].append((wall, rss))
        phases.append(json.loads(timings.read_text()))
        home = tmp / f"home{i}"
        wall, rss, out = measure([*pipeline, f"paths.state_dir={home}"], env)
        walls["pipeline cold"].append((wall, rss))
        cold_walls.append(wall)
        steps.append(step_seconds(home, re.search(r"^zenml run\s+(\S+)", out, re.M).group(1)))
        wall, rss, out = measure([*pipeline, f"paths.state_dir={tmp / f'usual-home{i}'}"], {**env, "OLIST_STORE_TEMPLATES": "off"})
        walls["cold, no templates"].append((wall, rss))
        wall, rss, out = measure([*pipeline, f"paths.state_dir={home}", "enable_cache=false"], env)
        assert "cached steps none" in out, out
        walls["pipeline warm"].append((wall, rss))
        wall, rss, out = measure([*pipeline, f"paths.state_dir={home}", "pipeline.reuse_identical_run=false"], env)
        assert "cached steps all" in out, out
        walls["pipeline cached"].append((wall, rss))
        wall, rss, out = measure([*pipeline, f"paths.state_dir={home}"], env)
        assert "identical to an earlier run" in out, out
        walls["identical re-run"].append((wall, rss))
        home, report = tmp / f"runner-home{i}", tmp / "report.json"
        for kind, overrides, expected in RUNNER_KINDS:
            wall, rss, out = measure_runner([*pipeline, f"paths.state_dir={home}", *overrides], runner_env, report)
            assert expected in out, out
            walls[kind].append((wall, rss))
        print(f"  round {i + 1}/{repeats}: " + ", ".join(f"{k} {v[-1][0]:.1f} s" for k, v in walls.items()), file=sys.stderr)
    med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v)) for k, v in walls.items()}
    per_step = {s: statistics.median(x.get(s, 0.0) for x in steps) for s in (*STEPS, "run")}
    # The two remainders per round, then their medians (medians of the parts need not add up).
    per_step["between"] = statistics.median(x["run"] - sum(x.get(s, 0.0) for s in STEPS) for x in steps)
    per_step["outside"] = statistics.median(wall - x["run"] for wall, x in zip(cold_walls, steps))
    own = {s: statistics.median(p.get(s, 0.0) for p in phases) for s in STEPS}
    return {"medians": med, "steps": per_step, "own": own, "cold": statistics.median(cold_walls)}


def overhead_table(results: dict[str, dict[str, object]], rows: dict[str, int]) -> list[str]:
    lines = [
        "| data | rows | plain script | pipeline cold | cold, no templates | warm (no cache) | cached (ZenML) | identical re-run | cold - plain | warm - plain | cold / plain | RSS plain / cold (MB) | RSS ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        med = r["medians"]
        plain, cold, warm = med["plain script"], med["pipeline cold"], med["pipeline warm"]
        lines.append(
            f"| {name} | {rows[name]:,} | {plain[0]:.1f} s | {cold[0]:.1f} s | {med['cold, no templates'][0]:.1f} s "
            f"| {warm[0]:.1f} s | {med['pipeline cached'][0]:.1f} s "
            f"| {med['identical re-run'][0]:.1f} s | {cold[0] - plain[0]:.1f} s | {warm[0] - plain[0]:.1f} s | {cold[0] / plain[0]:.2f} "
            f"| {plain[1]:.0f} / {cold[1]:.0f} | {cold[1] / plain[1]:.2f} |"
        )
    return lines


def runner_table(results: dict[str, dict[str, object]], rows: dict[str, int]) -> list[str]:
    lines = [
        "| data | rows | plain script | runner cold | runner warm | runner cached | cold - plain | warm - plain | cold / plain | warm / plain | RSS plain / child cold (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        med = r["medians"]
        plain, cold, warm = med["plain script"], med["runner cold"], med["runner warm"]
        lines.append(
            f"| {name} | {rows[name]:,} | {plain[0]:.1f} s | {cold[0]:.1f} s | {warm[0]:.1f} s | {med['runner cached'][0]:.1f} s "
            f"| {cold[0] - plain[0]:.1f} s | {warm[0] - plain[0]:.1f} s | {cold[0] / plain[0]:.2f} | {warm[0] / plain[0]:.2f} "
            f"| {plain[1]:.0f} / {cold[1]:.0f} |"
        )
    return lines


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def step_table(name: str, r: dict[str, object]) -> list[str]:
    steps, own = r["steps"], r["own"]
    lines = [
        f"Cold run on `{name}`, per step (median): the step's own work is the plain script's time for the same "
        "phase; the framework's share is the rest (artifact loading and storing, metadata, MLflow logging).",
        "",
        "| step | step wall (s) | own work (s) | framework (s) |",
        "|---|---:|---:|---:|",
    ]
    for step in STEPS:
        lines.append(f"| {step} | {steps[step]:.2f} | {own[step]:.2f} | {steps[step] - own[step]:.2f} |")
    between, outside = steps["between"], steps["outside"]
    lines += [
        f"| *between steps* (ZenML run bookkeeping) | {between:.2f} | | {between:.2f} |",
        f"| *outside the run* (imports, Hydra, stores, provisioning, compiling, summary) | {outside:.2f} | | {outside:.2f} |",
    ]
    return lines


#: Where a cold run's time goes: (label, pstats function pattern), read as cumulative time. Listed in the
#: order they happen; imports are counted where they happen (ZenML and MLflow inside provisioning).
PROFILE_PARTS = (
    ("validate the config into a run spec (imports scikit-learn to check the estimator)", "spec.py", "build_run_spec"),
    ("create/update the ZenML store and stack (imports ZenML; a new home: a copy of the store template, default stack)", "infra.py", "provision"),
    ("create the MLflow store and experiment (imports MLflow; a new home: a copy of the store template)", "infra.py", "ensure_mlflow_experiment"),
    ("compile the pipeline", "pipeline_definition.py", "_compile"),
    ("run the steps (own work plus artifacts, metadata, tracking)", "step_launcher.py", "_run_step"),
)


def _imports(frames: list[str]) -> bool:
    return any(f.startswith("_find_and_load ") for f in frames)


#: Where a sampled stack's time goes: the first rule that matches, in this order. `imports` and `MLflow`
#: anywhere in the stack; the others by the innermost frame of a known library (self time by library).
PROFILE_RULES = (
    ("imports", _imports),
    ("MLflow (runs, model logging)", lambda frames: any("mlflow/" in f for f in frames)),
)
LEAF_LIBRARIES = (("sklearn/", "scikit-learn"), ("pandas/", "pandas"), ("pyarrow/", "pyarrow"), ("numpy/", "numpy"),
                  ("sqlalchemy/", "SQL stores (SQLAlchemy)"), ("zenml/", "ZenML (other)"), ("hydra/", "Hydra/OmegaConf"),
                  ("omegaconf/", "Hydra/OmegaConf"), ("skops/", "skops (model serialisation)"),
                  ("olist_pipeline/", "project code"))  # fmt: skip


def classify(frames: list[str]) -> str:
    for label, matches in PROFILE_RULES:
        if matches(frames):
            return label
    for frame in reversed(frames):
        for marker, label in LEAF_LIBRARIES:
            if f"({marker}" in frame or f" {marker}" in frame:
                return label
    return "other (stdlib, interpreter)"


#: Libraries an import is charged to (the outermost third-party module being imported).
IMPORTED_LIBRARIES = {"zenml": "ZenML", "mlflow": "MLflow", "skops": "skops", "sklearn": "scikit-learn",
                      "scipy": "scikit-learn", "pandas": "pandas", "numpy": "pandas", "pyarrow": "pandas",
                      "pandera": "pandera", "hydra": "Hydra/OmegaConf", "omegaconf": "Hydra/OmegaConf",
                      "sqlalchemy": "ZenML", "sqlmodel": "ZenML", "pydantic": "ZenML", "rich": "rich"}  # fmt: skip


def imported_library(frames: list[str]) -> str:
    """The library a sampled import is charged to: the outermost module being imported that is not the
    project's own or the script's (numpy/pyarrow under pandas, scipy under scikit-learn,
    SQLAlchemy/pydantic under ZenML, which import them first in a run)."""
    for frame in frames:
        if frame.startswith("<module> ("):
            file = frame[len("<module> ("):].rsplit(":", 1)[0]
            if file.startswith(("olist_pipeline/", "<", "/", "scripts/", "plain_baseline")):
                continue
            return IMPORTED_LIBRARIES.get(file.split("/")[0].split(".")[0], "other")
    return "other"


def overhead_category(frames: list[str]) -> str:
    """`classify`, with imports split by library."""
    return f"imports: {imported_library(frames)}" if _imports(frames) else classify(frames)


def cpu_by_category(raw: Path, rate: int) -> dict[str, float]:
    """Seconds of py-spy samples per `overhead_category`, every thread of the process."""
    seconds: dict[str, float] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        label = overhead_category(stack.split(";"))
        seconds[label] = seconds.get(label, 0.0) + int(count) / rate
    return seconds


def py_spy() -> Path | None:
    """py-spy beside this interpreter (a dev dependency), or None."""
    path = Path(PY).with_name("py-spy")
    return path if path.exists() else None


def profile_overhead(path: Path, home: Path, env: dict[str, str], rate: int = 100) -> list[str]:
    """The plain script and a cold run under `py-spy record`: CPU seconds per category, side by side,
    and their difference (where the framework's overhead goes)."""
    spy = py_spy()
    if spy is None:
        return [f"(py-spy not found beside {PY}: the overhead breakdown needs it; pip install py-spy)"]
    commands = {
        "plain script": [PY, "scripts/plain_baseline.py", "--data", str(path)],
        "pipeline cold": [PY, "-m", "olist_pipeline", *run_args(path), f"paths.state_dir={home}"],
    }
    seconds, walls = {}, {}
    for kind, command in commands.items():
        raw = home.parent / f"{home.name}-{kind.replace(' ', '-')}.txt"
        started = time.perf_counter()
        subprocess.run([str(spy), "record", "--format", "raw", "-r", str(rate), "-o", str(raw), "--", *command],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=1800)  # fmt: skip
        walls[kind], seconds[kind] = time.perf_counter() - started, cpu_by_category(raw, rate)
    plain, cold = seconds["plain script"], seconds["pipeline cold"]
    labels = sorted(set(plain) | set(cold), key=lambda c: -(cold.get(c, 0.0) - plain.get(c, 0.0)))
    lines = [
        f"py-spy sampling every Python thread ({rate} Hz, threads on a CPU only; OpenMP threads are native and "
        "not sampled, so a fit counts as its main thread) of the plain script and of a cold run on the "
        f"embedded sample, measured {time.strftime('%Y-%m-%d')}. *imports* are charged to the outermost library being imported; the rest as in the "
        "sweep's profile below (*MLflow* anywhere in the stack, then the innermost frame of a known library). "
        "Sampling slows Python code down, so compare rows, not these seconds with the unprofiled figures.",
        "",
        "| category | plain script (s) | pipeline cold (s) | difference (s) |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {c} | {plain.get(c, 0.0):.2f} | {cold.get(c, 0.0):.2f} | {cold.get(c, 0.0) - plain.get(c, 0.0):+.2f} |"
              for c in labels]  # fmt: skip
    total_plain, total_cold = sum(plain.values()), sum(cold.values())
    lines.append(f"| *total on a CPU* | {total_plain:.2f} | {total_cold:.2f} | {total_cold - total_plain:+.2f} |")
    lines.append(f"| *wall under the profiler* | {walls['plain script']:.2f} | {walls['pipeline cold']:.2f} "
                 f"| {walls['pipeline cold'] - walls['plain script']:+.2f} |")  # fmt: skip
    return lines


def profile_cold_run(path: Path, home: Path, env: dict[str, str]) -> list[str]:
    """One cold run under cProfile: each part's share of the profiled wall time (cProfile slows
    Python code about 1.5-2x, so shares are reported, not seconds)."""
    import pstats

    stats_file = home.parent / f"{home.name}.prof"
    # Not `python -m cProfile`: `python -m olist_pipeline` ends its process itself once its atexit handlers
    # have run, so the profile is written by the first-registered (last-run) one.
    profiled = (
        "import atexit, cProfile, runpy, sys\n"
        "profile, out = cProfile.Profile(), sys.argv[1]\n"
        "atexit.register(lambda: (profile.disable(), profile.dump_stats(out)))\n"
        "sys.argv = ['olist_pipeline', *sys.argv[2:]]\n"
        "profile.enable()\n"
        "runpy.run_module('olist_pipeline', run_name='__main__', alter_sys=True)\n"
    )
    subprocess.run(
        [PY, "-c", profiled, str(stats_file), *run_args(path), f"paths.state_dir={home}"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    stats = pstats.Stats(str(stats_file)).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = max(ct for *_, ct, _ in stats.values())

    def cumulative(file_part: str, name: str) -> float:
        # The outermost call of that function (recursion and repeated calls are summed by pstats).
        return max((v[3] for (f, _, n), v in stats.items() if f.endswith(file_part) and n == name), default=0.0)

    lines = ["| part of a cold run (sample, profiled) | share of wall time |", "|---|---:|"]
    shares = [(label, cumulative(f, n) / total) for label, f, n in PROFILE_PARTS]
    lines += [f"| {label} | {share:.0%} |" for label, share in shares]
    lines.append(
        f"| everything else (interpreter start, Hydra, fingerprint, ZenML run bookkeeping, summary) "
        f"| {1 - sum(s for _, s in shares):.0%} |"
    )
    return lines


def replace_section(text: str, section: str, start: str, end: str) -> str:
    """`text` with the part between the `start` and `end` markers replaced by `section` (which carries
    the markers), or with `section` appended; everything else is kept as it was."""
    if start in text and end in text:
        return text[: text.index(start)] + section + text[text.index(end) + len(end):]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def write_section(path: Path, section: str, start: str, end: str) -> None:
    """Replace the marked section of `path` (appended when absent), atomically; the rest is left alone."""
    text = replace_section(path.read_text() if path.exists() else "# Benchmarks\n", section, start, end)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_profile(out: Path, env: dict[str, str]) -> None:
    """Profile a cold run on the embedded sample and write its section."""
    with tempfile.TemporaryDirectory(prefix="olist-bench-profile-") as tmp_name:
        # A cold run as the overhead table's: a new home from store templates, built beforehand.
        env = {**env, "OLIST_STORE_TEMPLATES": str(Path(tmp_name) / "store-templates")}
        measure([PY, "-m", "olist_pipeline.speed.store_templates"], env)
        sample = SAMPLE
        profile = profile_cold_run(sample, Path(tmp_name) / "home", env)
        overhead = profile_overhead(sample, Path(tmp_name) / "spied-home", env)
    section = "\n".join([PROFILE_START, "### Where a cold run's time goes (embedded sample, cProfile)", "", *profile, "",
                         "### Where the overhead over the plain script goes (embedded sample, py-spy)", "", *overhead,
                         PROFILE_END])  # fmt: skip
    write_section(out, section, PROFILE_START, PROFILE_END)
    print(section)


def main() -> int:
    parser = argparse.ArgumentParser(description="framework overhead benchmark")
    parser.add_argument("--sizes", default="sample,100k,1m,real", help="comma-separated: sample, 100k, 1m, real")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="BENCHMARKS.md")
    parser.add_argument("--profile-only", action="store_true", help="only the profile of a cold run on the sample")
    args = parser.parse_args()
    # A runner the user left running must not take the in-process kinds' calls.
    env = {**os.environ, "ZENML_ANALYTICS_OPT_IN": "false", "OLIST_RESIDENT": "off"}
    out = ROOT / args.out
    if args.profile_only:
        write_profile(out, env)
        return 0
    speed_start = speed_reference()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="olist-bench-") as tmp_name:
        tmp = Path(tmp_name)
        data = datasets(args.sizes.split(","), tmp)
        env = {**env, "OLIST_STORE_TEMPLATES": str(tmp / "store-templates")}  # the bench's own, built here, once
        templates_seconds = measure([PY, "-m", "olist_pipeline.speed.store_templates"], env)[0]
        runner_env, runner_start, runner_pid = start_runner(tmp / "runner", env)
        runner_idle_rss = rss_mb(runner_pid)
        try:
            for name, (path, _) in data.items():
                print(f"{name}: {path}", file=sys.stderr)
                sub = tmp / name
                sub.mkdir()
                results[name] = bench_size(path, args.repeats, sub, env, runner_env)
        finally:
            subprocess.run([PY, "-m", "olist_pipeline.speed.resident", "stop"], cwd=ROOT, env=runner_env, check=False)
        small = {"--help": [PY, "-m", "olist_pipeline", "--help"],
                 "import floor": [PY, "-c", "import zenml.client, mlflow, sklearn.pipeline, pandas"]}  # fmt: skip
        fixed = {k: [measure(cmd, env)[:2] for _ in range(args.repeats)] for k, cmd in small.items()}
        # How long a run interrupted during a store read takes to end (exit 130): its stores' locks are
        # released at once, or it waits out ZenML's 60 s busy timeout (tests/e2e/test_interrupts.py).
        fixed[INTERRUPTED] = [
            measure([PY, "scripts/interrupted_run.py", *run_args(SAMPLE), f"paths.state_dir={tmp / f'interrupted{i}'}"],
                    env, exit_code=130)[:2]
            for i in range(args.repeats)
        ]  # fmt: skip
    fixed_med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v)) for k, v in fixed.items()}

    rows = {name: n for name, (_, n) in data.items()}
    machine = machine_line(speed_start, speed_reference())
    versions = ", ".join(f"{p} {version(p)}" for p in ("zenml", "mlflow", "hydra-core", "scikit-learn", "pandas", "pyarrow"))
    text = [
        START,
        "## Framework overhead (`scripts/bench.py`)",
        "",
        f"Machine: {machine}. Versions: {versions}. Measured {time.strftime('%Y-%m-%d')}; "
        f"median of {args.repeats} alternating rounds; whole processes; config `+env=dev evaluation.report=false` "
        "(HistGradientBoosting on the delivery features, grouped split). Generated sizes come from the project's "
        "generator (seed 11); `real` is the real merged table from `../shared` (not in the repository).",
        "",
        *overhead_table(results, rows),
        "",
        f"*Pipeline cold*: a new home whose stores are copies of the store templates (olist_pipeline/speed/store_templates.py; "
        f"built once per ZenML/MLflow version, here in {templates_seconds:.1f} s, not in the figures). *Cold, no templates*: "
        "ZenML and MLflow create and migrate a new home's stores themselves, as on a machine's very first run.",
        "",
        "| process | wall time (s, median) | peak RSS (MB) |",
        "|---|---:|---:|",
        *(f"| {k} | {w:.2f} | {r:.0f} |" for k, (w, r) in fixed_med.items()),
        "",
        "### Through the resident runner (`make resident-up`; olist_pipeline/speed/resident.py)",
        "",
        "The same commands, taken by a runner that has already imported the libraries and forks a child per "
        f"call. The runner started in {runner_start:.1f} s (once; not in the figures) and held {runner_idle_rss:.0f} MB "
        "while idle; a child's peak RSS includes the pages it shares with the runner.",
        "",
        *runner_table(results, rows),
        "",
    ]
    for name in results:
        text += [*step_table(name, results[name]), ""]
    text.append(END)
    section = "\n".join(text)
    write_section(out, section, START, END)
    print(section)
    write_profile(out, env)  # last: loading a profile makes this process large (see `datasets`)
    return 0


if __name__ == "__main__":
    sys.exit(main())
