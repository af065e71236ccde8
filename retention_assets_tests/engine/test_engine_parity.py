"""The same definitions on DuckDB and on Spark (Sail, Delta tables) give the same tables, layer by layer.

The embedded-sample graph runs twice, once per engine (`RETENTION_ENGINE`), with everything else equal
(Feast and MLflow of the local profile); every set-based table is compared: same columns, same row
count, keys equal, values to 1e-9.
"""

from __future__ import annotations

import pytest

from retention_assets_tests.parity import COMPARED, assert_same_table, read_sorted
from retention_assets_tests.pipeline import run_refresh


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
    assert_same_table(read_sorted(duck, table), read_sorted(spark, table), table)


def test_every_window_table_is_the_same_on_both_engines(both_engines):
    duck, spark = both_engines["duckdb"], both_engines["spark"]
    windows = sorted(p.stem for p in duck.tables_dir.glob("bronze_event_*.parquet"))
    assert len(windows) == 14 and all(spark.exists(w) for w in windows)
    for table in windows:
        assert_same_table(read_sorted(duck, table), read_sorted(spark, table), table)
