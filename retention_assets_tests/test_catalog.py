"""Catalog hygiene and checkout-independent change detection, as the settings declare them."""

from __future__ import annotations

import os
import shutil

import yaml

from retention_assets.settings import load_settings, sample_settings_path


def test_owners_tags_and_code_references_reach_every_asset(tmp_path):
    from retention_assets.definitions import build_definitions

    data = yaml.safe_load(sample_settings_path().read_text())
    data["catalog"] = {"owners": ["team:retention", "ds@example.com"], "tags": {"domain": "churn"}}
    target = tmp_path / "settings.yaml"
    target.write_text(yaml.safe_dump(data))
    specs = [spec for asset in build_definitions(load_settings(target)).assets for spec in asset.specs]
    assert len(specs) > 20
    for spec in specs:
        assert spec.owners == ["team:retention", "ds@example.com"], spec.key
        assert spec.tags["domain"] == "churn"
        references = spec.metadata["dagster/code_references"].code_references
        assert references and os.path.exists(references[0].file_path), spec.key
    model = next(s for s in specs if s.key.to_user_string() == "churn_model")
    assert {"scikitlearn", "mlflow"} <= model.kinds  # the settings' tags add to the asset's own


def test_the_source_fingerprint_survives_moving_the_checkout(tmp_path, small_sample):
    from retention_assets.core.files import fingerprint
    from retention_assets_tests.conftest import write_settings

    first = tmp_path / "checkout"
    shutil.copytree(small_sample.customers.parent, first / "data", copy_function=shutil.copy2)
    settings_file = write_settings(first, small_sample)
    data = yaml.safe_load(settings_file.read_text())  # sources relative to the settings file, as users write them
    data["entity"]["path"] = "data/" + small_sample.customers.name
    for name in ("transactions", "support_tickets"):
        data["events"][name]["path"] = "data/" + os.path.basename(data["events"][name]["path"])
    settings_file.write_text(yaml.safe_dump(data, sort_keys=False))
    before = load_settings(settings_file)
    read = fingerprint(before.source_paths, before.base_dir)  # what the last refresh recorded
    moved = tmp_path / "elsewhere" / "checkout"
    moved.parent.mkdir()
    shutil.move(first, moved)
    after = load_settings(moved / "settings.yaml")

    assert after.source_paths != before.source_paths  # other absolute paths ...
    assert fingerprint(after.source_paths, after.base_dir) == read
    (moved / "data" / small_sample.customers.name).write_bytes(b"customer_id\n1\n")  # ... and a real change shows
    assert fingerprint(after.source_paths, after.base_dir) != read
