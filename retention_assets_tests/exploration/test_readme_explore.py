"""The README's "Files nobody has configured yet", run verbatim on the files it names: explore writes settings
that materialize the whole graph unedited (shape: a customer table plus integer-keyed events)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from retention_assets_tests.exploration import shapes

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("### Files nobody has configured yet", 1)[1].split("\n## ", 1)[0]


def test_the_readme_walkthrough_runs_verbatim_and_validates_plausibly(tmp_path):
    lines = re.search(r"```bash\n(.+?)\n```", section(), re.DOTALL).group(1).splitlines()
    assert [line.split()[:2] for line in lines] == [["retention", "explore"], ["retention", "quickstart"]]
    files = shapes.customers_and_events(tmp_path)
    assert all(f.name in lines[0] for f in files)  # the files the README names
    env = {k: v for k, v in os.environ.items()
           if k not in ("RETENTION_SETTINGS", "RETENTION_DATA_DIR", "DAGSTER_HOME", "RETENTION_PROFILE")}
    outputs = []
    for line in lines:  # the `retention` CLI of this checkout
        command = [sys.executable, "-m", "retention_assets.cli", *line.split()[1:]]
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, (line, done.stdout[-2000:], done.stderr[-3000:])
        outputs.append(done.stdout)
    written = (tmp_path / "my_project" / "settings.yaml").read_text()
    excerpt = re.search(r"```yaml\n(.+?)\n```", section(), re.DOTALL).group(1)
    for comment in (c.strip() for c in excerpt.splitlines() if c.strip().startswith("# key")):
        assert comment in written  # the README shows what explore writes
    assert yaml.safe_load(written)["events"]["purchases"]["entity_key"] == "customer_id"
    auc = re.search(r"ROC AUC (\d\.\d+)", outputs[1])
    assert auc and 0.6 < float(auc.group(1)) < 0.97, outputs[1][-2000:]
    assert "validated out of time" in outputs[1]
