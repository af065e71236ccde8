"""One-time job runs for the stand-in workspace: `/api/2.1|2.2/jobs/runs/{submit,get,get-output,cancel}`.

Each task of a run is run by a "cluster": a subprocess of `cluster_bootstrap.py` in the cluster python, with the
cluster's environment and driver logs (see `workspace.py` for what a run does, and `cluster_bootstrap.py` for what
the cluster does around the task's code).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._rest import EndpointNotFound, Request, Response, Unsupported, bad_request, now_ms

if TYPE_CHECKING:
    from .workspace import StandInWorkspace

BOOTSTRAP = Path(__file__).with_name("cluster_bootstrap.py")
LIBRARY_ERROR_EXIT = 3  # cluster_bootstrap.LIBRARY_ERROR_EXIT (that file imports nothing from here, nor we from it)
# variables of the parent process a cluster does not see (the orchestrator's, not the cluster's)
_HIDDEN_ENV_PREFIXES = ("DATABRICKS_", "DAGSTER_", "MLFLOW_", "SPARK_", "PYSPARK_", "PYTEST_", "SAIL_", "UNITY_")
_HIDDEN_ENV = {"PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME"}


@dataclass
class TaskRun:
    """One task of a run, and the "cluster" process that runs it."""

    task_key: str
    run_id: int
    spec: dict[str, Any]
    cluster_id: str
    workdir: Path
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    termination_code: str | None = None
    start_time: int = 0
    end_time: int = 0
    process: subprocess.Popen[bytes] | None = None
    outcome: dict[str, Any] = field(default_factory=dict)  # what the cluster reported (cluster_bootstrap)
    stdout_path: Path | None = None
    stderr_path: Path | None = None

    def finish(self, life_cycle_state: str, result_state: str, message: str, code: str) -> None:
        self.life_cycle_state, self.result_state, self.state_message = life_cycle_state, result_state, message
        self.termination_code = code
        self.end_time = now_ms()

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"life_cycle_state": self.life_cycle_state, "state_message": self.state_message,
                               "user_cancelled_or_timedout": self.result_state == "CANCELED"}
        if self.result_state:
            out["result_state"] = self.result_state
        return out

    def status(self) -> dict[str, Any]:
        return _status_v2(self.life_cycle_state, self.termination_code, self.state_message)

    def as_json(self) -> dict[str, Any]:
        out = {"task_key": self.task_key, "run_id": self.run_id, "state": self.state(), "status": self.status(),
               "start_time": self.start_time, "end_time": self.end_time, "attempt_number": 0,
               "cluster_instance": {"cluster_id": self.cluster_id}}
        for key in ("spark_python_task", "notebook_task", "new_cluster", "existing_cluster_id", "libraries",
                    "environment_key", "depends_on", "description"):
            if key in self.spec:
                out[key] = self.spec[key]
        if self.start_time and self.end_time:
            out["execution_duration"] = self.end_time - self.start_time
        return out


def _status_v2(life_cycle_state: str, code: str | None, message: str) -> dict[str, Any]:
    state = {"INTERNAL_ERROR": "TERMINATED", "SKIPPED": "TERMINATED"}.get(life_cycle_state, life_cycle_state)
    out: dict[str, Any] = {"state": state}
    if code is not None:
        kind = {"SUCCESS": "SUCCESS", "INTERNAL_ERROR": "INTERNAL_ERROR"}.get(code, "CLIENT_ERROR")
        out["termination_details"] = {"code": code, "type": kind, "message": message}
    return out


@dataclass
class JobRun:
    """A one-time run (`jobs/runs/submit`)."""

    run_id: int
    run_name: str
    submit: dict[str, Any]
    tasks: list[TaskRun]
    start_time: int
    end_time: int = 0
    cancel_requested: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [t.process for t in self.tasks if t.process is not None]

    def state(self) -> dict[str, Any]:
        if not self.finished.is_set():
            life = "TERMINATING" if self.cancel_requested else (
                "RUNNING" if any(t.life_cycle_state == "RUNNING" for t in self.tasks) else "PENDING")
            return {"life_cycle_state": life, "state_message": "", "user_cancelled_or_timedout": False}
        if self.cancel_requested:
            return {"life_cycle_state": "TERMINATED", "result_state": "CANCELED", "state_message": "Run cancelled.",
                    "user_cancelled_or_timedout": True}
        failed = next((t for t in self.tasks if t.result_state == "FAILED"), None)
        if failed is not None:
            life = "INTERNAL_ERROR" if failed.life_cycle_state == "INTERNAL_ERROR" else "TERMINATED"
            return {"life_cycle_state": life, "result_state": "FAILED", "state_message": failed.state_message,
                    "user_cancelled_or_timedout": False}
        return {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": "",
                "user_cancelled_or_timedout": False}

    def termination_code(self) -> str | None:
        if not self.finished.is_set():
            return None
        if self.cancel_requested:
            return "USER_CANCELED"
        failed = next((t for t in self.tasks if t.result_state == "FAILED"), None)
        return failed.termination_code if failed is not None else "SUCCESS"

    def as_json(self, host: str) -> dict[str, Any]:
        state = self.state()
        return {"run_id": self.run_id, "run_name": self.run_name, "number_in_job": self.run_id,
                "creator_user_name": "stand-in-user@example.com", "run_type": "SUBMIT_RUN", "format": "MULTI_TASK",
                "state": state, "status": _status_v2(state["life_cycle_state"], self.termination_code(),
                                                     state["state_message"]),
                "start_time": self.start_time, "end_time": self.end_time,
                "run_page_url": f"{host}/#job/runs/{self.run_id}", "tasks": [t.as_json() for t in self.tasks]}


class JobsApi:
    """`/api/2.1|2.2/jobs/runs/{submit,get,get-output,cancel}`."""

    def __init__(self, workspace: StandInWorkspace) -> None:
        self.ws = workspace
        self.runs: dict[int, JobRun] = {}
        self._ids = iter(range(1001, 10**9))
        self._ids_lock = threading.Lock()

    def _next_id(self) -> int:
        with self._ids_lock:
            return next(self._ids)

    def handle(self, request: Request, op: str) -> Response:
        method = request.method
        if (method, op) == ("POST", "runs/submit"):
            return Response.json({"run_id": self.submit(request.json()).run_id})
        if (method, op) == ("GET", "runs/get"):
            return Response.json(self._run(request.query.get("run_id")).as_json(self.ws.host))
        if (method, op) == ("GET", "runs/get-output"):
            return Response.json(self._output(request.query.get("run_id")))
        if (method, op) == ("POST", "runs/cancel"):
            self.cancel(self._run(request.json().get("run_id")))
            return Response.empty()
        raise EndpointNotFound(method, request.path)

    def _run(self, run_id: Any) -> JobRun:
        try:
            run = self.runs.get(int(run_id))
        except (TypeError, ValueError):
            raise bad_request(f"Invalid run_id: {run_id}") from None
        if run is None:
            raise bad_request(f"Run {run_id} does not exist.", "INVALID_PARAMETER_VALUE")
        return run

    # -- submit
    def submit(self, body: dict[str, Any]) -> JobRun:
        tasks = body.get("tasks") or []
        if not tasks:
            raise bad_request("A run needs at least one task")
        environments = {e.get("environment_key"): e for e in body.get("environments") or []}
        keys = [t.get("task_key") for t in tasks]
        if not all(keys) or len(set(keys)) != len(keys):
            raise bad_request(f"Every task needs a unique task_key: {keys}")
        for t in tasks:
            kinds = [k for k in ("spark_python_task", "notebook_task") if k in t]
            others = [k for k in t if k.endswith("_task") and k not in kinds]
            if others or len(kinds) != 1:
                raise Unsupported("POST", "jobs/runs/submit", f"tasks of kind {others or kinds or 'none'}")
            if t.get("environment_key") and t["environment_key"] not in environments:
                raise bad_request(f"Task {t['task_key']} refers to an unknown environment_key "
                                  f"{t['environment_key']!r}")
            for dep in t.get("depends_on") or []:
                if dep.get("task_key") not in keys:
                    raise bad_request(f"Task {t['task_key']} depends on an unknown task {dep.get('task_key')!r}")
            if (t.get("spark_python_task") or t.get("notebook_task") or {}).get("source") == "GIT":
                raise Unsupported("POST", "jobs/runs/submit", "Git sources")
            self._libraries(body, t)  # refuses the kinds of libraries the stand-in cannot check
        run_id = self._next_id()
        task_runs = []
        for spec in _in_dependency_order(tasks):
            task_run_id = self._next_id()
            cluster_id = (spec.get("existing_cluster_id")
                          or f"{time.strftime('%m%d')}-{task_run_id:06d}-{'job' if 'new_cluster' in spec else 'srvless'}")
            task_runs.append(TaskRun(spec["task_key"], task_run_id, spec, cluster_id,
                                     self.ws.root / "clusters" / f"{cluster_id}-{task_run_id}"))
        run = JobRun(run_id, body.get("run_name") or f"Untitled run {run_id}", body, task_runs, now_ms())
        self.runs[run_id] = run
        threading.Thread(target=self._execute, args=(run,), name=f"stand-in-run-{run_id}", daemon=True).start()
        return run

    def cancel(self, run: JobRun) -> None:
        with run.lock:
            if run.finished.is_set():
                return
            run.cancel_requested = True
            processes = run.processes
        for process in processes:
            _terminate(process)

    # -- execution
    def _execute(self, run: JobRun) -> None:
        try:
            failed = False
            for task in run.tasks:
                if run.cancel_requested or failed:
                    task.finish("SKIPPED", "UPSTREAM_CANCELED" if run.cancel_requested else "UPSTREAM_FAILED",
                                "Upstream task cancelled." if run.cancel_requested else "Upstream task failed.",
                                "SKIPPED")
                    continue
                try:
                    self._run_task(run, task)
                except Exception as e:  # noqa: BLE001  (the stand-in's own fault: an internal error of the run)
                    self.ws.internal_errors.append(f"run {run.run_id} task {task.task_key}: {traceback.format_exc()}")
                    task.finish("INTERNAL_ERROR", "FAILED", f"Stand-in error: {type(e).__name__}: {e}",
                                "INTERNAL_ERROR")
                failed = task.result_state != "SUCCESS"
        finally:
            run.end_time = now_ms()
            run.finished.set()

    def _run_task(self, run: JobRun, task: TaskRun) -> None:
        spec = task.spec
        wheels, pypi, requirement_files = self._libraries(run.submit, spec)
        missing = [(kind, path) for kind, paths in (("whl", wheels), ("requirements", requirement_files))
                   for path in paths if not self.ws.storage.any(path).is_file()]
        if missing:
            kind, path = missing[0]
            task.finish("INTERNAL_ERROR", "FAILED",
                        f'Library installation failed for library due to user error for {kind}: "{path}". '
                        f"Error messages: the file {path} does not exist.", "LIBRARY_INSTALLATION_ERROR")
            return
        for path in requirement_files:
            pypi.extend(_requirements(self.ws.storage.any(path)))
        source, kind = self._source(spec)
        if source is None:
            task.finish("TERMINATED", "FAILED", kind, "RUN_EXECUTION_ERROR")
            return
        task.workdir.mkdir(parents=True, exist_ok=True)
        cluster = spec.get("new_cluster") or {}
        log_dir, log_destination = self._log_dir(task, cluster)
        conf = {**(cluster.get("spark_conf") or {}),
                "spark.databricks.clusterUsageTags.clusterId": task.cluster_id,
                # dagster-pipes reads this as a string: any non-empty value counts as enabled
                "spark.databricks.clusterUsageTags.clusterLogDeliveryEnabled": "true" if log_destination else "",
                "spark.databricks.clusterUsageTags.clusterLogDestination": log_destination or ""}
        status_file = task.workdir / "status.json"
        notebook_parameters = (spec.get("notebook_task") or {}).get("base_parameters") or {}
        bootstrap_spec = {"kind": kind, "source": str(source),
                          "parameters": list((spec.get("spark_python_task") or {}).get("parameters") or []),
                          "base_parameters": {k: str(v) for k, v in notebook_parameters.items()},
                          "spark_conf": conf, "pypi": pypi, "status_file": str(status_file)}
        spec_file = task.workdir / "task.json"
        spec_file.write_text(json.dumps(bootstrap_spec, indent=1))
        env = self._environment(run, spec, cluster)
        task.stdout_path, task.stderr_path = log_dir / "stdout", log_dir / "stderr"
        for log, name in ((task.stdout_path, "stdout"), (task.stderr_path, "stderr")):
            # a driver log is never empty (and PipesDbfsLogReader stops on an empty one)
            log.write_text(f"stand-in cluster {task.cluster_id}: driver {name} of task {task.task_key}\n")
        with run.lock:
            if run.cancel_requested:
                task.finish("TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED")
                return
            with task.stdout_path.open("ab") as out, task.stderr_path.open("ab") as err:
                task.process = subprocess.Popen(
                    [self.ws.cluster_python, str(BOOTSTRAP), str(spec_file)], env=env, cwd=task.workdir,
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
            task.start_time = now_ms()
            task.life_cycle_state = "RUNNING"
        code = task.process.wait()
        task.outcome = json.loads(status_file.read_text()) if status_file.exists() else {}
        if run.cancel_requested:
            task.finish("TERMINATED", "CANCELED", "Run cancelled.", "USER_CANCELED")
        elif code == LIBRARY_ERROR_EXIT and "library_error" in task.outcome:
            task.finish("INTERNAL_ERROR", "FAILED", "Library installation failed for library due to user error for "
                        f"pypi: {task.outcome['library_error']}", "LIBRARY_INSTALLATION_ERROR")
        elif code == 0:
            task.finish("TERMINATED", "SUCCESS", "", "SUCCESS")
        else:
            error = task.outcome.get("error") or f"the driver exited with code {code}"
            task.finish("TERMINATED", "FAILED", f"Task {task.task_key} failed with message: {error}",
                        "RUN_EXECUTION_ERROR")

    def _libraries(self, submit: dict[str, Any], spec: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
        """The wheels (paths), PyPI requirements and requirements files of a task: its `libraries`, or the
        `dependencies` of its serverless environment."""
        wheels: list[str] = []
        pypi: list[str] = []
        requirement_files: list[str] = []
        for library in spec.get("libraries") or []:
            if "whl" in library:
                wheels.append(library["whl"])
            elif "pypi" in library:
                if library["pypi"].get("repo"):
                    raise Unsupported("POST", "jobs/runs/submit", "PyPI libraries from another repository")
                pypi.append(library["pypi"]["package"])
            elif "requirements" in library:
                requirement_files.append(library["requirements"])
            else:
                raise Unsupported("POST", "jobs/runs/submit", f"libraries of kind {sorted(library)}")
        key = spec.get("environment_key")
        if key:
            environment = next(e for e in submit.get("environments") or [] if e.get("environment_key") == key)
            for dependency in (environment.get("spec") or {}).get("dependencies") or []:
                if dependency.endswith(".whl"):
                    wheels.append(dependency)
                elif dependency.startswith("-r "):
                    requirement_files.append(dependency[3:].strip())
                elif dependency.startswith("-"):
                    raise Unsupported("POST", "jobs/runs/submit", f"the environment dependency {dependency!r}")
                else:
                    pypi.append(dependency)
        return wheels, pypi, requirement_files

    def _source(self, spec: dict[str, Any]) -> tuple[Path | None, str]:
        """(the local file of the task's code, its kind) or (None, why the task fails)."""
        if "spark_python_task" in spec:
            python_file = spec["spark_python_task"]["python_file"]
            local = self.ws.storage.any(python_file)
            if not local.is_file():
                return None, f"Cannot read the python file {python_file}: it does not exist."
            return local, "python"
        notebook_path = spec["notebook_task"]["notebook_path"]
        notebook = self.ws.workspace_api.notebook_source(notebook_path)
        if notebook is None:
            return None, (f"Unable to access the notebook \"{notebook_path}\". Either it does not exist, or the "
                          "identity used to run this job lacks the required permissions.")
        return notebook, "notebook"

    def _log_dir(self, task: TaskRun, cluster: dict[str, Any]) -> tuple[Path, str | None]:
        """Where the driver logs go, and the log destination the cluster reports (None: no log delivery)."""
        conf = cluster.get("cluster_log_conf") or {}
        destination = (conf.get("dbfs") or {}).get("destination") or (conf.get("volumes") or {}).get("destination")
        if destination:
            base = (self.ws.storage.dbfs(destination) if "dbfs" in conf
                    else self.ws.storage.files(destination))
            log_dir = base / task.cluster_id / "driver"
        else:
            log_dir = task.workdir / "driver"
        log_dir.mkdir(parents=True, exist_ok=True)
        return log_dir, destination

    def _environment(self, run: JobRun, spec: dict[str, Any], cluster: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in _HIDDEN_ENV and not k.startswith(_HIDDEN_ENV_PREFIXES)}
        env.update(self.ws.cluster_env)
        if cluster:
            match = re.match(r"\d+\.\d+", str(cluster.get("spark_version") or ""))
            runtime = match.group(0) if match else "16.4"
        else:
            key = spec.get("environment_key")
            environment: dict[str, Any] = next(
                (e for e in run.submit.get("environments") or [] if e.get("environment_key") == key), {})
            runtime = f"client.{(environment.get('spec') or {}).get('client') or '1'}"
        env["DATABRICKS_RUNTIME_VERSION"] = runtime
        # a cluster's own credentials (runtime auth on Databricks): WorkspaceClient() in a task reaches this workspace
        env["DATABRICKS_HOST"], env["DATABRICKS_TOKEN"] = self.ws.host, self.ws.token
        env["PYTHONUNBUFFERED"] = "1"
        if self.ws.spark_remote:
            env["SPARK_REMOTE"] = self.ws.spark_remote
        env.update({k: str(v) for k, v in (cluster.get("spark_env_vars") or {}).items()})
        return env

    def _output(self, run_id: Any) -> dict[str, Any]:
        try:
            wanted = int(run_id)
        except (TypeError, ValueError):
            raise bad_request(f"Invalid run_id: {run_id}") from None
        for run in self.runs.values():
            for task in run.tasks:
                if wanted in (task.run_id, run.run_id if len(run.tasks) == 1 else -1):
                    return self._task_output(run, task)
        if wanted in self.runs:
            raise bad_request("Retrieving the output of runs with multiple tasks is not supported: ask for the output "
                              "of a task run (tasks[].run_id).")
        raise bad_request(f"Run {run_id} does not exist.")

    def _task_output(self, run: JobRun, task: TaskRun) -> dict[str, Any]:
        out: dict[str, Any] = {"metadata": {**task.as_json(), "run_name": run.run_name, "job_run_id": run.run_id}}
        if "notebook_task" in task.spec:
            if "notebook_result" in task.outcome:
                out["notebook_output"] = {"result": task.outcome["notebook_result"], "truncated": False}
        elif task.stdout_path is not None and task.stdout_path.exists():
            logs = task.stdout_path.read_bytes()
            out["logs"] = logs[-5000:].decode(errors="replace")
            out["logs_truncated"] = len(logs) > 5000
        for key in ("error", "error_trace"):
            if key in task.outcome:
                out[key] = task.outcome[key]
        return out


def _in_dependency_order(tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks in an order that runs every task after the tasks it depends on (stable otherwise)."""
    done: list[dict[str, Any]] = []
    names: set[str] = set()
    pending = list(tasks)
    while pending:
        ready = next((t for t in pending if {d["task_key"] for d in t.get("depends_on") or []} <= names), None)
        if ready is None:
            raise bad_request(f"The tasks' depends_on form a cycle: {[t['task_key'] for t in pending]}")
        pending.remove(ready)
        done.append(ready)
        names.add(ready["task_key"])
    return done


def _requirements(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _terminate(process: subprocess.Popen[bytes], grace_seconds: float = 5.0) -> None:
    """SIGTERM to the process group of a cluster process, SIGKILL after a grace period (in the background)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return

    def escalate() -> None:
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    threading.Thread(target=escalate, daemon=True).start()
