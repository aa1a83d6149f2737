"""Console hygiene: a user error is one line, not a traceback from every layer it passed through."""

from __future__ import annotations

import logging
import os
import warnings

from olist_pipeline.errors import OlistError


def full_errors() -> bool:
    """Hydra's switch for complete tracebacks; we honour it everywhere."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


class _DropUserErrors(logging.Filter):
    """ZenML logs a failing step twice (with a traceback); for user errors the CLI's line suffices."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OlistError):
            return False
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(a, OlistError) for a in args)


_FILTER = _DropUserErrors()


def install() -> None:
    """Attach the filter to the root handlers (ZenML's console handler among them) and mute known,
    harmless warnings. Call after ZenML is imported. Idempotent."""
    logging.getLogger("zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
    if full_errors():
        return
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
