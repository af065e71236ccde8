"""Shared fixtures: small generated samples with their own settings files and data directories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from retention_assets.sample.generator import generate_sample
from retention_assets.settings import Settings, load_settings, sample_settings_path

SMALL_CUSTOMERS = 800
SMALL_EVENTS_PER_CUSTOMER = 60.0


def write_settings(directory: Path, paths, **overrides) -> Path:
    """The embedded sample's settings pointed at generated files, with `overrides` merged per section."""
    data = yaml.safe_load(sample_settings_path().read_text())
    data["entity"]["path"] = str(paths.customers)
    data["events"]["transactions"]["path"] = str(paths.transactions)
    data["events"]["support_tickets"]["path"] = str(paths.support_tickets)
    data["data_dir"] = str(directory / "out")
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    target = directory / "settings.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sample")
    return generate_sample(directory / "data", n_customers=SMALL_CUSTOMERS, seed=3,
                           events_per_customer=SMALL_EVENTS_PER_CUSTOMER)


@pytest.fixture
def make_settings(tmp_path, small_sample) -> Callable[..., Settings]:
    """Settings for the small sample in a fresh data directory (overrides merged per section)."""

    def make(paths=None, directory: Path | None = None, **overrides) -> Settings:
        directory = directory or tmp_path
        directory.mkdir(parents=True, exist_ok=True)
        return load_settings(write_settings(directory, paths or small_sample, **overrides))

    return make


@pytest.fixture(scope="session")
def sail_remote():
    """A Sail Spark Connect server for the session (a real Spark engine in Rust, with native Delta Lake):
    its `sc://` URL. Started in this process; stopped at the end."""
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    _, port = server.listening_address
    yield f"sc://127.0.0.1:{port}"
    server.stop()
