"""Where the values passed between steps live (plans, timelines, models, small monitoring tables).

Tables the engine writes are not handled here: those assets write through `compute.engine()` and
return only metadata. Every write goes to a temporary file in the target's directory and is then
renamed over the target, so a failed or killed run never leaves a half-written object where a good
one was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg

from retention_assets.core.files import atomic_write

_EXTENSIONS = (".parquet", ".json", ".joblib")


class AtomicFileIOManager(dg.ConfigurableIOManager):
    """DataFrames as Parquet, dicts as JSON, anything else with joblib; written atomically."""

    base_dir: str

    def _base(self, context) -> Path:
        return Path(self.base_dir) / "__".join(context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        import pandas as pd

        base = self._base(context)
        if isinstance(obj, pd.DataFrame):
            target = base.with_suffix(".parquet")
            atomic_write(target, lambda tmp: obj.to_parquet(tmp, index=False))
        elif isinstance(obj, dict):
            target = base.with_suffix(".json")
            atomic_write(target, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str)))
        else:
            import joblib

            target = base.with_suffix(".joblib")
            atomic_write(target, lambda tmp: joblib.dump(obj, tmp))
        for other in _EXTENSIONS:  # a stale file of another kind must not shadow the new one
            if other != target.suffix:
                base.with_suffix(other).unlink(missing_ok=True)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(target))})

    def load_input(self, context: dg.InputContext) -> Any:
        import pandas as pd

        base = self._base(context.upstream_output)
        for suffix in _EXTENSIONS:
            path = base.with_suffix(suffix)
            if path.exists():
                if suffix == ".parquet":
                    return pd.read_parquet(path)
                if suffix == ".json":
                    return json.loads(path.read_text())
                import joblib

                return joblib.load(path)
        raise FileNotFoundError(f"{context.upstream_output.asset_key.to_user_string()} has not been materialized "
                                f"(nothing at {base}.*); materialize it first")
