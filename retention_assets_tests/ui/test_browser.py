"""What a data scientist sees in the Dagster UI, in a real browser (Playwright driving Debian's Chromium):
the lineage graph with every group, the model page's rounded metrics and readable plots, the iteration
history's champion, and the drift page led by what really drifted. Screenshots go to .ui_screenshots/."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from retention_assets.automation import FULL_JOB, REFRESH_JOB
from retention_assets.definitions import build_definitions
from retention_assets.sample.generator import generate_later_period, generate_sample
from retention_assets.settings import Settings, load_settings
from retention_assets_tests.conftest import write_settings
from retention_assets_tests.ui.browser import browser, markdown_images, markdown_text, open_page, screenshot, webserver

CUSTOMERS, EVENTS, SEED = 1200, 60.0, 5
READABLE_WIDTH = 800


@dataclass
class World:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    root: Path
    env: dict[str, str]

    def run(self, job: str) -> None:
        result = self.defs.resolve_job_def(job).execute_in_process(instance=self.instance, raise_on_error=False)
        assert result.success, job


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The sample materialized by the full job on a persistent instance, as the quickstart leaves it."""
    root = tmp_path_factory.mktemp("ui")
    paths = generate_sample(root / "data", n_customers=CUSTOMERS, seed=SEED, events_per_customer=EVENTS)
    settings_file = write_settings(root, paths)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETENTION_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(root / "home"), RETENTION_SETTINGS=str(settings_file))
    (root / "home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
        patch.setenv("RETENTION_SETTINGS", env["RETENTION_SETTINGS"])
        settings = load_settings(settings_file)
        with dg.DagsterInstance.get() as instance:
            world = World(settings, build_definitions(settings), instance, root, env)
            world.run(FULL_JOB)
            yield world


@pytest.fixture(scope="module")
def ui(world):
    with webserver(world.env, world.root) as base, browser() as page:
        yield base, page


def test_the_lineage_graph_renders_every_group(world, ui):
    base, page = ui
    groups = {spec.group_name for spec in world.defs.resolve_all_asset_specs()}
    assert {"raw", "exploration", "bronze_event", "silver", "gold", "model", "monitoring"} <= groups
    open_page(page, f"{base}/asset-groups", "Global asset lineage")
    graph = page.locator("svg, [data-testid='asset-graph'], body").first
    for group in sorted(groups):
        page.get_by_text(group, exact=True).first.wait_for()
    screenshot(page, "lineage")
    assert graph.count()


def test_the_model_page_shows_readable_plots(world, ui):
    base, page = ui
    open_page(page, f"{base}/assets/churn_model", "roc_auc")
    screenshot(page, "churn_model")
    for entry in ("roc_curve", "shap_summary"):
        sizes = markdown_images(page, entry)
        assert sizes and all(natural >= READABLE_WIDTH for natural, _ in sizes), (entry, sizes)


def test_the_iteration_history_shows_the_promoted_version_as_champion(world, ui):
    from retention_assets.publication.generations import read_release

    base, page = ui
    release = read_release(world.settings.data_path)
    # churn_model's own table says its run's decision is the gate's; the release, which made it final, shows it
    open_page(page, f"{base}/assets/churn_model", "iteration_history")
    assert "decided by champion_model" in markdown_text(page, "iteration_history")
    open_page(page, f"{base}/assets/published_release", "iteration_history")
    screenshot(page, "published_release")
    history = markdown_text(page, "iteration_history")
    rows = [line.split("\t") for line in history.splitlines() if line.startswith("iteration-")]
    header = next(line.split("\t") for line in history.splitlines() if line.startswith("iteration\t"))
    version, champion = header.index("version"), header.index("champion")
    promoted = [row for row in rows if row[version] == release.model_version]
    assert promoted and promoted[-1][champion] == "yes", history


def _drift_rows(page) -> list[dict[str, str]]:
    """The drift summary table as the page shows it, most importance-weighted drift first."""
    text = markdown_text(page, "drift_summary")
    lines = [line.split("\t") for line in text.splitlines() if "\t" in line]
    header = next(i for i, line in enumerate(lines) if line[0].strip() == "feature")
    names = [c.strip() for c in lines[header]]
    return [dict(zip(names, (c.strip() for c in line))) for line in lines[header + 1:] if len(line) == len(names)]


def test_the_drift_page_on_a_stable_period_is_not_led_by_tenure(world, ui):
    """A later period of the same world: tenure grew with the calendar, nothing else changed."""
    base, page = ui
    generate_later_period(world.root / "data", "stable", n_customers=CUSTOMERS, seed=SEED, events_per_customer=EVENTS)
    world.run(REFRESH_JOB)
    open_page(page, f"{base}/assets/feature_drift", "drift_summary")
    screenshot(page, "feature_drift_stable")
    rows = _drift_rows(page)
    assert rows, "no drift summary on the page"
    assert "days_since_first" not in rows[0]["feature"] and not rows[0]["feature"].startswith("days_since_")
    calendar = [r for r in rows if "calendar" in r["status"]]
    assert all(r["status"].startswith(("none", "moderate")) or "expected" in r["status"] for r in calendar)
    assert all(width >= READABLE_WIDTH for width, _ in markdown_images(page, "psi_plot"))


def test_the_drift_page_on_a_drifted_period_is_led_by_the_planted_features(world, ui):
    """The drift scenario moves plans to basic, raises prices 25% and thins one region's transactions."""
    base, page = ui
    generate_later_period(world.root / "data", "drift", n_customers=CUSTOMERS, seed=SEED, events_per_customer=EVENTS)
    world.run(REFRESH_JOB)
    open_page(page, f"{base}/assets/feature_drift", "drift_summary")
    page.reload()
    page.get_by_text("drift_summary").first.wait_for()
    screenshot(page, "feature_drift_drifted")
    top = [r["feature"] for r in _drift_rows(page)[:3]]
    planted = re.compile(r"^(plan|monthly_fee|transactions_\w+_(count|amount_\w+|days_since_last))$")
    assert top and all(planted.match(f) for f in top), top
