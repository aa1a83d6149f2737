"""A real `python -m olist_pipeline ARGS` with one Ctrl-C (KeyboardInterrupt) raised where it used to
hang a run: inside the train step, while SQLAlchemy builds ZenML objects from a SELECT's first row
(olist_pipeline/stack/sqlite_reads.py). Exits 130 like an interrupted run.

Used by tests/e2e/test_interrupts.py (the run ends failed and the next run trains) and by `make bench`
(how long the interrupted run takes to end).

    python scripts/interrupted_run.py +env=dev evaluation.report=false paths.state_dir=/tmp/home
"""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.orm import loading  # noqa: E402

import olist_pipeline.steps.training as training  # noqa: E402

armed: list[bool] = []
build_model = training.build_model


def arming_build_model(*args, **kwargs):  # type: ignore[no-untyped-def]
    armed.append(True)
    return build_model(*args, **kwargs)


training.build_model = arming_build_model

instance_processor = loading._instance_processor


def interrupted(query_entity, mapper, *args, **kwargs):  # type: ignore[no-untyped-def]
    if armed and mapper.class_.__module__.startswith("zenml"):
        armed.clear()
        raise KeyboardInterrupt
    return instance_processor(query_entity, mapper, *args, **kwargs)


loading._instance_processor = interrupted

sys.argv = ["olist_pipeline", *sys.argv[1:]]
runpy.run_module("olist_pipeline", run_name="__main__")
