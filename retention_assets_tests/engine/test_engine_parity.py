"""The same definitions on DuckDB and on Spark (Sail, Delta tables) give the same tables, layer by layer.

The embedded-sample graph runs twice, once per engine (`RETENTION_ENGINE`), with everything else equal
(Feast and MLflow of the local profile); every set-based table is compared: same columns, same row
count, keys equal, values to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retention_assets_tests.pipeline import run_refresh

COMPARED = ("raw_customers", "raw_transactions", "raw_support_tickets", "bronze_entity", "silver_joined",
            "churn_labels", "gold_features", "training_set", "churn_scores")


def _read(engine, table: str) -> pd.DataFrame:
    frame = engine.frame(f"SELECT * FROM {engine.relation(table)}")
    keys = [c for c in ("customer_id", "feature_timestamp", "event_ts", "created_at", "ticket_id") if c in frame]
    rest = [c for c in frame.columns if c not in keys and frame[c].dtype != object]
    return frame.sort_values(keys + rest[:3], kind="stable").reset_index(drop=True)


def _same(left: pd.DataFrame, right: pd.DataFrame, table: str) -> None:
    assert list(left.columns) == list(right.columns), table
    assert len(left) == len(right), table
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(a):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True,
                                       err_msg=f"{table}.{column}")
        elif isinstance(a.dtype, pd.DatetimeTZDtype) or isinstance(b.dtype, pd.DatetimeTZDtype):
            assert (pd.to_datetime(a, utc=True) == pd.to_datetime(b, utc=True)).all(), f"{table}.{column}"
        else:
            same = (a.isna() & b.isna()) | (a.astype(object) == b.astype(object))
            assert same.all(), f"{table}.{column}: {list(a[~same][:3])} vs {list(b[~same][:3])}"


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory, small_sample, sail_remote):
    from retention_assets.definitions import build_resources
    from retention_assets.profiles import build_profile
    from retention_assets.settings import load_settings
    from retention_assets_tests.conftest import write_settings

    engines = {}
    for kind in ("duckdb", "spark"):
        with pytest.MonkeyPatch.context() as env:
            env.setenv("RETENTION_ENGINE", kind)
            env.setenv("RETENTION_SPARK_REMOTE", sail_remote)
            settings = load_settings(write_settings(tmp_path_factory.mktemp(kind), small_sample))
            result = run_refresh(settings)
            assert result.success, kind
            engines[kind] = build_resources(settings, build_profile(settings.data_path))["compute"].engine()
    yield engines
    for engine in engines.values():
        engine.close()


@pytest.mark.parametrize("table", COMPARED)
def test_both_engines_write_the_same_table(both_engines, table):
    duck, spark = both_engines["duckdb"], both_engines["spark"]
    assert spark.name == "spark" and duck.name == "duckdb"
    _same(_read(duck, table), _read(spark, table), table)


def test_every_window_table_is_the_same_on_both_engines(both_engines):
    duck, spark = both_engines["duckdb"], both_engines["spark"]
    windows = sorted(p.stem for p in duck.tables_dir.glob("bronze_event_*.parquet"))
    assert len(windows) == 14 and all(spark.exists(w) for w in windows)
    for table in windows:
        _same(_read(duck, table), _read(spark, table), table)
