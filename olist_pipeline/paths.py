"""Where things live. Every relative path is resolved against the project root, never the CWD."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root: the folder holding `conf/`, `data/` and this package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = PROJECT_ROOT / "conf"
PACKAGE_DIR = Path(__file__).resolve().parent


def resolve(path: str | os.PathLike[str]) -> Path:
    """Return `path` as an absolute path; relative paths are taken from the project root."""
    p = Path(os.path.expandvars(os.fspath(path))).expanduser()
    return p if p.is_absolute() else (PROJECT_ROOT / p).resolve()
