"""The stand-in workspace's "cluster driver": what a Databricks cluster does around a task's code.

Run by the stand-in as `<cluster python> cluster_bootstrap.py <spec.json>` in a fresh process, with the
cluster's environment (`SPARK_REMOTE`, `DATABRICKS_RUNTIME_VERSION`, `new_cluster.spark_env_vars`) and
stdout/stderr going to the driver logs. Before the task's code it

* checks that the task's PyPI libraries are installed in this python at the pinned versions (a real
  cluster would install them; this one cannot, so it refuses what it does not have);
* creates the active SparkSession (Spark Connect, at `SPARK_REMOTE`) with the cluster's `spark_conf` and
  its `spark.databricks.clusterUsageTags.*` (dagster-pipes' `PipesDbfsMessageWriter` reads them);

then runs a `spark_python_task` file as `__main__` with `parameters` as argv, or a source notebook with
the globals `spark`, `dbutils` (widgets over `base_parameters`, `dbutils.notebook.exit`) and `display`.
The outcome (notebook exit value, error, library problem) goes to the spec's status file, read by the
stand-in for `runs/get` and `runs/get-output`.

This file imports nothing from the test package: the cluster python need not have it on its path.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

LIBRARY_ERROR_EXIT = 3


class InputWidgetNotDefined(Exception):
    """What `dbutils.widgets.get` raises for a widget that the notebook's parameters do not define."""


class NotebookExit(BaseException):
    """`dbutils.notebook.exit(value)`: ends the notebook successfully with a result."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class _Widgets:
    def __init__(self, parameters: dict[str, str]) -> None:
        self._values = dict(parameters)

    def get(self, name: str) -> str:
        if name not in self._values:
            raise InputWidgetNotDefined(f"No input widget named {name} is defined")
        return self._values[name]

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        return self._values.get(name, defaultValue)

    def getAll(self) -> dict[str, str]:
        return dict(self._values)

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._values.setdefault(name, defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._values.setdefault(name, defaultValue)

    combobox = dropdown

    def remove(self, name: str) -> None:
        self._values.pop(name, None)

    def removeAll(self) -> None:
        self._values.clear()


class _Notebook:
    def exit(self, value: Any) -> None:
        raise NotebookExit(str(value))


class DBUtils:
    """The part of `dbutils` a notebook task here can use: `widgets` and `notebook.exit`."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.widgets = _Widgets(parameters)
        self.notebook = _Notebook()


def check_pypi_libraries(requirements: list[str]) -> str | None:
    """The first requirement this python does not satisfy, as a message (None when all are satisfied)."""
    from packaging.requirements import Requirement

    for text in requirements:
        requirement = Requirement(text)
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            return f"{text}: {requirement.name} is not installed in the cluster python ({sys.executable})"
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            return f"{text}: the cluster python ({sys.executable}) has {requirement.name}=={installed}"
    return None


def start_spark(conf: dict[str, str]) -> Any:
    """The cluster's SparkSession, made active before user code (`SparkSession.getActiveSession()`)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    for key, value in conf.items():
        spark.conf.set(key, value)
    return spark


def run(spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Runs the task; returns the exit code and the status to report."""
    problem = check_pypi_libraries(spec.get("pypi") or [])
    if problem is not None:
        return LIBRARY_ERROR_EXIT, {"library_error": problem}
    spark = start_spark(spec.get("spark_conf") or {}) if os.environ.get("SPARK_REMOTE") else None
    source = spec["source"]
    try:
        if spec["kind"] == "python":
            sys.argv = [source, *spec.get("parameters", [])]
            sys.path.insert(0, str(Path(source).parent))
            runpy.run_path(source, run_name="__main__")
        else:
            dbutils = DBUtils(spec.get("base_parameters") or {})
            init = {"spark": spark, "dbutils": dbutils, "display": print}
            sys.argv = [source]
            runpy.run_path(source, init_globals=init, run_name="__main__")
    except NotebookExit as e:
        return 0, {"notebook_result": e.value}
    except SystemExit as e:
        if e.code in (None, 0):
            return 0, {}
        traceback.print_exc()
        return (e.code if isinstance(e.code, int) else 1), {"error": f"SystemExit: {e.code}"}
    except BaseException as e:  # noqa: BLE001  (reported as the task's error, like a cluster does)
        traceback.print_exc()
        return 1, {"error": f"{type(e).__name__}: {e}", "error_trace": traceback.format_exc()}
    finally:
        active = _active_session()
        if active is not None:
            active.stop()  # a Spark Connect client left open retries its server at interpreter exit
    return 0, {}


def _active_session() -> Any:
    if not os.environ.get("SPARK_REMOTE"):
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def main(argv: list[str]) -> int:
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)  # the task sees its own folder on sys.path, not the stand-in's
    spec = json.loads(Path(argv[1]).read_text())
    code, status = run(spec)
    sys.stdout.flush()
    sys.stderr.flush()
    Path(spec["status_file"]).write_text(json.dumps(status))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
