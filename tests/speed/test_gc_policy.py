"""The GC policy (olist_pipeline/speed/gc_policy.py): no cyclic collections while a run's long-lived heap
is built, then that heap frozen."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import cli


def test_the_collector_is_held_until_settled_and_only_when_held():
    code = """
import gc
from olist_pipeline.speed import gc_policy
gc_policy.settle_gc()  # not held: Python's defaults stay
assert gc.isenabled() and gc.get_freeze_count() == 0
gc_policy.hold_gc()
assert not gc.isenabled()
kept = [[i] for i in range(1000)]
gc_policy.settle_gc()
assert gc.isenabled() and gc.get_freeze_count() >= 1000
frozen = gc.get_freeze_count()
gc_policy.settle_gc()  # once
assert gc.get_freeze_count() == frozen
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


_GC_PROBE = """
import atexit, gc, json, os
full = {"before_settle": 0, "after": 0}

def count(phase, info):
    if phase == "stop" and info["generation"] == 2:
        full["after" if gc.get_freeze_count() else "before_settle"] += 1

gc.callbacks.append(count)
atexit.register(lambda: open(os.path.join(os.environ["GC_PROBE_OUT"], f"{os.getpid()}.json"), "w").write(
    json.dumps({**full, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()})))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [("+env=dev", "evaluation.report=false"),
     ("-m", "+env=dev", "evaluation.report=false", "hydra/launcher=olist_fork", "model.learning_rate=0.05,0.1")],
    ids=["run", "sweep forking its jobs"],
)
def test_a_run_collects_nothing_until_its_stack_is_set_up(tmp_path, command):
    """A training run's process makes no full collection while it imports and sets up its stores (ten of
    them, 1.6 s, on the sample before), then collects as usual with that set-up frozen; in a sweep, its
    own process and every job it forks."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(_GC_PROBE)
    out = tmp_path / "gc"
    out.mkdir()
    env = {"PYTHONPATH": str(probe), "GC_PROBE_OUT": str(out), "OLIST_RESIDENT": "off"}
    result = cli(*command, state_dir=tmp_path / "home", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = [json.loads(f.read_text()) for f in out.glob("*.json")]
    assert len(seen) == (1 if "-m" not in command else 3), seen  # a sweep: its process and two jobs
    for process in seen:
        assert process["before_settle"] == 0 and process["enabled"] and process["frozen"] > 100_000, seen
