"""The project's per-user cache directory (store templates live there)."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/olist-pipeline` (default `~/.cache/olist-pipeline`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "olist-pipeline"
