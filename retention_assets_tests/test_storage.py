"""The IO manager writes atomically: a failed write never replaces a good file."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from retention_assets.resources.storage import AtomicFileIOManager


def materialize_value(tmp_path, value):
    @dg.asset(name="thing")
    def thing():
        return value

    return dg.materialize([thing], resources={"io_manager": AtomicFileIOManager(base_dir=str(tmp_path))},
                          raise_on_error=False)


def test_dataframes_round_trip_as_parquet(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    assert materialize_value(tmp_path, frame).success
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "thing.parquet"), frame)


def test_a_failed_write_keeps_the_previous_table_and_leaves_no_temporary_file(tmp_path):
    good = pd.DataFrame({"a": [1, 2]})
    assert materialize_value(tmp_path, good).success
    before = (tmp_path / "thing.parquet").read_bytes()

    unserializable = pd.DataFrame({"a": [object(), object()]})
    result = materialize_value(tmp_path, unserializable)

    assert not result.success
    assert (tmp_path / "thing.parquet").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.parquet"]


def test_a_new_kind_of_output_replaces_the_old_file(tmp_path):
    assert materialize_value(tmp_path, pd.DataFrame({"a": [1]})).success
    assert materialize_value(tmp_path, {"as_of": "2026-01-01"}).success
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.json"]


def test_loading_an_unmaterialized_asset_says_so(tmp_path):
    @dg.asset
    def upstream():
        return 1

    @dg.asset
    def downstream(upstream):
        return upstream

    io = AtomicFileIOManager(base_dir=str(tmp_path))
    result = dg.materialize([upstream.to_source_asset(), downstream], resources={"io_manager": io},
                            raise_on_error=False)
    assert not result.success
    with pytest.raises(FileNotFoundError, match="upstream has not been materialized"):
        io.load_input(dg.build_input_context(asset_key=dg.AssetKey("upstream"),
                                             upstream_output=dg.build_output_context(asset_key=dg.AssetKey("upstream"))))
