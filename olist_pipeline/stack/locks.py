"""Machine-wide locks: processes on one machine (parallel sweep jobs) take turns where they would race."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path` for the duration of the block (processes on one machine)."""
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def promotion_lock() -> Iterator[None]:
    """Held while a candidate is judged and the decision recorded, so two jobs never both promote against
    the same old champion. It lives in ZenML's config directory: jobs sharing client state share it."""
    from zenml.config.global_config import GlobalConfiguration

    with file_lock(Path(GlobalConfiguration().config_directory) / ".promotion.lock"):
        yield
