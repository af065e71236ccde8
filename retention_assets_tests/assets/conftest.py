"""One full materialization of the graph on the small sample, shared by the modules that inspect it."""

from __future__ import annotations

import pytest

from retention_assets_tests.pipeline import run_refresh


@pytest.fixture(scope="session")
def graph(tmp_path_factory, small_sample):
    from retention_assets.settings import load_settings
    from retention_assets_tests.conftest import write_settings

    settings = load_settings(write_settings(tmp_path_factory.mktemp("graph"), small_sample))
    result = run_refresh(settings)
    assert result.success
    return settings, result
