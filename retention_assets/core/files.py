"""Atomic file writes: a temporary file in the target's directory, then a rename over the target."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A temporary file next to `path` (same filesystem, so the final rename is atomic)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp_path)` and move the result over `target` only if it succeeded.

    A failed or killed write never leaves a half-written file where a good one was; the temporary
    file is removed on failure.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fingerprint(paths: list[Path], base: Path | None = None) -> str:
    """Size and modification time of each file (None when missing), hashed: cheap change detection.

    Files are keyed by their path relative to `base` (the settings file's directory), so moving the whole
    checkout (settings and sources together) keeps the fingerprint and triggers no refresh.
    """
    import os

    def name(p: Path) -> str:
        return Path(os.path.relpath(p, base)).as_posix() if base is not None else str(p)

    stats = {name(p): [p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else None for p in paths}
    return hashlib.sha256(json.dumps(stats, sort_keys=True).encode()).hexdigest()[:16]
