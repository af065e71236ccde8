"""Write `pandas_reference.json`: what the pandas implementation of profiling (commit `PANDAS_COMMIT`)
found for every case in `cases.py`, so the SQL implementation is held to it field by field.

Run from the repository root (not a test; it needs git history):

    PYTHONPATH=. python -m retention_assets_tests.exploration.make_pandas_reference
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from retention_assets_tests.exploration.cases import (
    FRAME_CASES,
    PANDAS_COMMIT,
    REFERENCE_FILE,
    RELATIONSHIP_CASES,
    SAMPLE_AS_OF,
    SAMPLE_DATA,
    SAMPLE_FILES,
    case_path,
)


def pandas_profiling() -> types.ModuleType:
    """The profiling module as it was at PANDAS_COMMIT, loaded without touching the working tree."""
    root = Path(__file__).resolve().parents[2]
    source = subprocess.run(["git", "show", f"{PANDAS_COMMIT}:retention_assets/exploration/profiling.py"],
                            cwd=root, check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("pandas_profiling")
    sys.modules[module.__name__] = module  # dataclasses look their module up while the class is built
    exec(compile(source, "pandas_profiling.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def reference() -> dict:
    old = pandas_profiling()
    profiles = {name: asdict(old.profile_frame(case.build(), name, case_path(name), **case.options))
                for name, case in FRAME_CASES.items()}
    sample_frames = {name: old.read_any(SAMPLE_DATA / file) for name, file in SAMPLE_FILES.items()}
    sample_profiles = {name: old.profile_frame(frame, name, case_path(name), reference_time=SAMPLE_AS_OF)
                       for name, frame in sample_frames.items()}
    profiles.update({f"sample_{name}": asdict(p) for name, p in sample_profiles.items()})
    relationships = {"sample": [asdict(r) for r in old.profile_relationships(sample_frames, sample_profiles)]}
    for name, build in RELATIONSHIP_CASES.items():
        frames = build()
        found = old.profile_relationships(
            frames, {n: old.profile_frame(f, n, case_path(n)) for n, f in frames.items()})
        relationships[name] = [asdict(r) for r in found]
    return {"commit": PANDAS_COMMIT, "profiles": profiles, "relationships": relationships}


def _plain(value):
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot store {value!r}")


if __name__ == "__main__":
    REFERENCE_FILE.write_text(json.dumps(reference(), indent=1, sort_keys=True, default=_plain) + "\n")
    print(f"wrote {REFERENCE_FILE}")
