"""The package's boundaries, read from the source: wiring stays thin, framework-free code stays free."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "retention_assets"
FRAMEWORK_FREE = ("core", "engine", "exploration", "features", "feature_store", "model", "monitoring", "publication",
                  "sample", "steps")
WIRING = sorted([*(PACKAGE / "assets").glob("*.py"), PACKAGE / "checks.py", PACKAGE / "automation.py"])
SQL = re.compile(r"\b(SELECT|INSERT|GROUP BY|ORDER BY|JOIN|COPY)\b\s")
STORAGE = re.compile(r"read_parquet|to_parquet|\.df\(\)|table_path|\.parquet\b")


def framework_free_modules() -> list[Path]:
    return sorted(p for package in FRAMEWORK_FREE for p in (PACKAGE / package).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def string_literals(path: Path) -> list[str]:
    return [node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_every_stage_package_exists_and_says_what_it_holds():
    for package in FRAMEWORK_FREE:
        init = PACKAGE / package / "__init__.py"
        assert init.exists(), package
        assert ast.get_docstring(ast.parse(init.read_text())), f"{package}/__init__.py has no docstring"


@pytest.mark.parametrize("path", framework_free_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_framework_free_modules_never_import_dagster(path):
    dagster = {m for m in imported_modules(path) if m == "dagster" or m.startswith(("dagster.", "dagster_"))}
    assert not dagster, f"{path.relative_to(PACKAGE)} imports {sorted(dagster)}"


@pytest.mark.parametrize("path", WIRING, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_wiring_names_no_engine_and_builds_no_sql(path):
    text = path.read_text()
    assert "duckdb" not in text.lower(), f"{path.name} names DuckDB"
    assert "spark" not in text.lower(), f"{path.name} names Spark"
    sql = [s for s in string_literals(path) if SQL.search(s)]
    assert not sql, f"{path.name} builds SQL: {sql[:3]}"
    assert not STORAGE.search(text), f"{path.name} reads or writes table storage itself: {STORAGE.search(text)[0]}"


def test_only_the_engine_package_knows_an_engine():
    outside = [p for p in framework_free_modules() if "engine" not in p.relative_to(PACKAGE).parts[:1]]
    for path in outside:
        imports = imported_modules(path)
        assert "duckdb" not in imports and not any(m.startswith("pyspark") for m in imports), path
        assert "retention_assets.engine.duckdb_engine" not in imports, path


def test_the_window_dialects_are_classes_not_string_switches():
    from retention_assets.engine.dialect import DUCKDB, SPARK, Dialect

    assert type(DUCKDB) is not type(SPARK) and isinstance(DUCKDB, Dialect) and isinstance(SPARK, Dialect)
    source = (PACKAGE / "engine" / "dialect.py").read_text()
    assert "self.name ==" not in source


@pytest.mark.parametrize("path", sorted((PACKAGE / "remote").glob("*.py")), ids=lambda p: p.name)
def test_the_code_that_runs_on_a_cluster_needs_only_dagster_pipes(path):
    dagster = {m for m in imported_modules(path) if m == "dagster" or m.startswith(("dagster.", "dagster_"))}
    assert dagster <= {"dagster_pipes"}, f"{path.name} imports {sorted(dagster - {'dagster_pipes'})}"
