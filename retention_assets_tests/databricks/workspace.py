"""A test-suite-owned stand-in for a Databricks workspace's REST surface.

The stand-in is the only fake: every client stays real (`databricks.sdk.WorkspaceClient`, the Pipes clients
of `dagster-databricks`, MLflow's `databricks-uc` registry store, Sail's `unity` catalog provider) and talks
HTTP to it at `http://127.0.0.1:<port>`. It answers

==========================================================  =================================================
`/api/2.1|2.2/jobs/runs/{submit,get,get-output,cancel}`     one-time runs; each task runs as a subprocess, "the
                                                            cluster" (see `cluster_bootstrap.py`)
`/api/2.0/dbfs/{mkdirs,put,get-status,read,list,delete,     DBFS, stored under `<root>/dbfs`
move,create,add-block,close}`
`/api/2.0/fs/files/...`, `/api/2.0/fs/directories/...`      the Files API for `/Volumes/...` (the volume must
                                                            exist in UC) and `/Models/...` (the model version
                                                            must exist), stored under `<root>/Volumes|Models`
`/api/2.0/workspace/{import,export,mkdirs,get-status,       workspace files and source notebooks, stored under
list,delete}`                                               `<root>/Workspace`
`/api/2.1/unity-catalog/...`                                Unity Catalog (see `unity.py`)
`/api/2.0/mlflow/unity-catalog/...`                         the MLflow UC model registry (see `unity.py`)
==========================================================  =================================================

and anything else with 404 `ENDPOINT_NOT_FOUND`, recorded in `unknown_calls`. Every call needs
`Authorization: Bearer <token>` (401 otherwise).

FUSE view. dagster-pipes and code written for clusters open `/dbfs/...`, `/Volumes/...` and
`/Workspace/...` directly, so the cluster processes must see the stand-in's storage at those absolute paths.
`start()` points the symlinks `/dbfs`, `/Volumes` and `/Workspace` at `<root>/dbfs|Volumes|Workspace` (this
needs a writable `/`, i.e. root, as on these machines and in CI); `stop()` points them back at what they
pointed at before (a previous stand-in) or removes them. Without root, an administrator can create the
links once as second-level links, e.g. `ln -s /tmp/databricks-fuse/dbfs /dbfs` (same for `Volumes` and
`Workspace`), and the stand-in then repoints `/tmp/databricks-fuse/dbfs` instead. A real directory at one
of these paths is never replaced: `start()` raises `FuseViewUnavailable`. Several stand-ins may exist in a
process one after the other (the links follow the one started last); run tests that use them serially.

What a run does (`StandInWorkspace.runs`): tasks run one after the other in `depends_on` order. Each gets a
"cluster" id, an environment without the parent's `PYTHONPATH` (and without its `DATABRICKS_*`, `DAGSTER_*`,
`MLFLOW_*`, `SPARK_*`, `PYTEST_*` variables) plus `cluster_env`, `SPARK_REMOTE`, `DATABRICKS_RUNTIME_VERSION`,
`DATABRICKS_HOST`/`DATABRICKS_TOKEN` of this workspace (a cluster's runtime credentials) and the task's
`new_cluster.spark_env_vars`, and an active SparkSession with the cluster's `spark_conf` and
`spark.databricks.clusterUsageTags.{clusterId,clusterLogDeliveryEnabled,clusterLogDestination}`. Driver
stdout/stderr go to `<cluster_log_conf destination>/<cluster id>/driver/{stdout,stderr}` in DBFS (or a
volume), each starting with one line, or to `<root>/clusters/<cluster id>/driver/` without a log conf. A run
without a cluster (no `new_cluster`, no `existing_cluster_id`) is serverless: same session, no log delivery.
Libraries are not installed (the cluster python is given): a `whl` (task `libraries` or a serverless
environment's `dependencies`) must exist in the stand-in's storage, and a PyPI requirement must be satisfied by
the cluster python, else the task fails with life_cycle_state INTERNAL_ERROR and a "Library installation
failed" message naming the library, as a cluster that cannot install it does.

Not implemented (answered as unknown endpoints, so a test that needs them fails loudly): the Clusters and Jobs
(non-submit) APIs, Files API multipart/resumable uploads (what `ws.files.upload` uses from 5 MiB on), Git
sources, jar/maven/cran libraries, task kinds other than `spark_python_task` and `notebook_task`, renames.
`stop()` writes every call it answered to `<root>/calls.log`.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import threading
import traceback
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from ._rest import ApiError, EndpointNotFound, Request, Response, Unsupported, bad_request, not_found
from .jobs import JobRun, JobsApi, TaskRun
from .unity import UnityCatalog

__all__ = ["FuseViewUnavailable", "JobRun", "StandInWorkspace", "TaskRun"]

DBFS_MAX_READ = 1 << 20
DBFS_DEFAULT_READ = 1 << 19


# ====================================================================== FUSE view
class FuseViewUnavailable(RuntimeError):
    """`/dbfs`, `/Volumes` or `/Workspace` cannot be pointed at the stand-in's storage."""


class FuseView:
    """Symlinks at fixed absolute paths (`/dbfs`, ...) pointing into one stand-in's storage."""

    def __init__(self, links: Mapping[str, Path]) -> None:
        self.links = {Path(public): target for public, target in links.items()}
        self._managed: dict[Path, tuple[Path, str | None]] = {}  # public -> (link repointed, previous target)

    @staticmethod
    def _link_to_manage(public: Path) -> Path:
        if public.is_symlink() and not os.access(public.parent, os.W_OK):
            inner = Path(os.readlink(public))
            inner = inner if inner.is_absolute() else public.parent / inner
            if (inner.is_symlink() or not inner.exists()) and os.access(inner.parent, os.W_OK):
                return inner
        if public.exists() and not public.is_symlink():
            raise FuseViewUnavailable(f"{public} is a real directory: the stand-in will not replace it")
        if not os.access(public.parent, os.W_OK):
            raise FuseViewUnavailable(
                f"cannot create the symlink {public} (run as root, or create it once as a link to a link in a "
                f"writable folder, e.g. ln -s /tmp/databricks-fuse/{public.name} {public})")
        return public

    @staticmethod
    def _point(link: Path, target: Path | str) -> None:
        tmp = link.with_name(f".{link.name}.stand-in-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.symlink(target, tmp)
        os.replace(tmp, link)  # atomic; replaces the old symlink itself, never what it points at

    def mount(self) -> None:
        for public, target in self.links.items():
            link = self._link_to_manage(public)
            previous = os.readlink(link) if link.is_symlink() else None
            self._point(link, target)
            self._managed[public] = (link, previous)

    def unmount(self) -> None:
        for public, (link, previous) in self._managed.items():
            if not link.is_symlink() or os.readlink(link) != str(self.links[public]):
                continue  # another stand-in took it over: leave it to that one
            if previous is not None and Path(previous).exists():
                self._point(link, previous)
            else:
                link.unlink()
        self._managed.clear()


# ====================================================================== storage
class Storage:
    """Where the workspace's paths live on the local disk, under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dbfs_root = root / "dbfs"
        self.volumes_root = root / "Volumes"
        self.models_root = root / "Models"
        self.workspace_root = root / "Workspace"

    @staticmethod
    def _join(base: Path, path: str) -> Path:
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        if ".." in parts:
            raise bad_request(f"Invalid path: {path}")
        return base.joinpath(*parts)

    def dbfs(self, path: str) -> Path:
        """A DBFS path (`/x`, `dbfs:/x`)."""
        rest = path.removeprefix("dbfs:")
        if not rest.startswith("/"):
            raise bad_request(f"Path must be absolute: {path}")
        return self._join(self.dbfs_root, rest)

    def files(self, path: str) -> Path:
        """A Files API path: `/Volumes/...` or `/Models/...`."""
        if path.startswith("/Volumes/"):
            return self._join(self.volumes_root, path.removeprefix("/Volumes"))
        if path.startswith("/Models/"):
            return self._join(self.models_root, path.removeprefix("/Models"))
        raise bad_request(f"The Files API serves /Volumes/... and /Models/... paths, not {path}")

    def workspace(self, path: str) -> Path:
        """A workspace path, with or without the `/Workspace` prefix."""
        if not path.startswith("/"):
            raise bad_request(f"Path must be absolute: {path}")
        return self._join(self.workspace_root, path.removeprefix("/Workspace"))

    def any(self, path: str) -> Path:
        """Where a job's file lives: `dbfs:/...`, `/Workspace/...`, `/Volumes/...`, or a local path (`file:`)."""
        if path.startswith("dbfs:"):
            return self.dbfs(path)
        if path.startswith("/Workspace/"):
            return self.workspace(path)
        if path.startswith(("/Volumes/", "/Models/")):
            return self.files(path)
        return Path(path.removeprefix("file:"))

    def public_dbfs(self, local: Path) -> str:
        return "/" + local.relative_to(self.dbfs_root).as_posix() if local != self.dbfs_root else "/"


def _http_date(seconds: float) -> str:
    return formatdate(seconds, usegmt=True)


# ====================================================================== DBFS
class DbfsApi:
    """`/api/2.0/dbfs/...`: what `files.DbfsAPI` and the Pipes DBFS injector/readers call."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._handles: dict[int, tuple[Path, bytearray]] = {}
        self._next_handle = 1
        self._lock = threading.Lock()

    def handle(self, request: Request, op: str) -> Response:
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], Response]] = {
            ("POST", "mkdirs"): self._mkdirs, ("POST", "put"): self._put, ("GET", "get-status"): self._get_status,
            ("GET", "read"): self._read, ("GET", "list"): self._list, ("POST", "delete"): self._delete,
            ("POST", "move"): self._move, ("POST", "create"): self._create, ("POST", "add-block"): self._add_block,
            ("POST", "close"): self._close,
        }
        route = routes.get((request.method, op))
        if route is None:
            raise EndpointNotFound(request.method, request.path)
        if op == "put" and "multipart/form-data" in request.headers.get("content-type", ""):
            return self._put(multipart_fields(request))
        return route(request.params())

    @staticmethod
    def _missing(path: str) -> ApiError:
        return not_found("RESOURCE_DOES_NOT_EXIST", f"No file or directory exists on path {path}.")

    def _info(self, local: Path) -> dict[str, Any]:
        st = local.stat()
        return {"path": self.storage.public_dbfs(local), "is_dir": local.is_dir(),
                "file_size": 0 if local.is_dir() else st.st_size, "modification_time": int(st.st_mtime * 1000)}

    def _mkdirs(self, p: dict[str, Any]) -> Response:
        local = self.storage.dbfs(p["path"])
        if local.is_file():
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file exists at path {p['path']}.")
        local.mkdir(parents=True, exist_ok=True)
        return Response.empty()

    def _write(self, path: str, data: bytes, overwrite: bool) -> None:
        local = self.storage.dbfs(path)
        if local.is_dir():
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A directory exists at path {path}.")
        if local.exists() and not overwrite:
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at the input path "
                                                           f"{path}.")
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, local)

    def _put(self, p: dict[str, Any]) -> Response:
        contents = p.get("contents", "")
        data = contents if isinstance(contents, bytes) else base64.b64decode(contents or "")
        if len(data) > DBFS_MAX_READ and not isinstance(contents, bytes):
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", "The contents of a put are limited to 1 MB: use "
                                                            "create/add-block/close")
        self._write(p["path"], data, truthy(p.get("overwrite")))
        return Response.empty()

    def _get_status(self, p: dict[str, Any]) -> Response:
        local = self.storage.dbfs(p["path"])
        if not local.exists():
            raise self._missing(p["path"])
        return Response.json(self._info(local))

    def _read(self, p: dict[str, Any]) -> Response:
        local = self.storage.dbfs(p["path"])
        if not local.exists():
            raise self._missing(p["path"])
        if local.is_dir():
            raise bad_request(f"The path {p['path']} is a directory.")
        offset, length = int(p.get("offset") or 0), int(p.get("length") or DBFS_DEFAULT_READ)
        if length > DBFS_MAX_READ:
            raise ApiError(400, "MAX_READ_SIZE_EXCEEDED", f"Cannot read more than {DBFS_MAX_READ} bytes at once")
        with local.open("rb") as f:
            f.seek(offset)
            data = f.read(length)
        return Response.json({"bytes_read": len(data), "data": base64.b64encode(data).decode()})

    def _list(self, p: dict[str, Any]) -> Response:
        local = self.storage.dbfs(p["path"])
        if not local.exists():
            raise self._missing(p["path"])
        entries = sorted(local.iterdir()) if local.is_dir() else [local]
        return Response.json({"files": [self._info(e) for e in entries if not e.name.startswith(".")]})

    def _delete(self, p: dict[str, Any]) -> Response:
        local = self.storage.dbfs(p["path"])
        if local.is_dir():
            if any(local.iterdir()) and not truthy(p.get("recursive")):
                raise bad_request(f"Directory {p['path']} is not empty. Use recursive delete.", "IO_ERROR")
            shutil.rmtree(local)
        else:
            local.unlink(missing_ok=True)
        return Response.empty()

    def _move(self, p: dict[str, Any]) -> Response:
        source, target = self.storage.dbfs(p["source_path"]), self.storage.dbfs(p["destination_path"])
        if not source.exists():
            raise self._missing(p["source_path"])
        if target.exists():
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at the destination "
                                                           f"path {p['destination_path']}.")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return Response.empty()

    def _create(self, p: dict[str, Any]) -> Response:
        local = self.storage.dbfs(p["path"])
        if local.exists() and not truthy(p.get("overwrite")):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"A file or directory already exists at the input path "
                                                           f"{p['path']}.")
        with self._lock:
            handle, self._next_handle = self._next_handle, self._next_handle + 1
            self._handles[handle] = (local, bytearray())
        return Response.json({"handle": handle})

    def _stream(self, p: dict[str, Any]) -> tuple[Path, bytearray]:
        stream = self._handles.get(int(p.get("handle") or 0))
        if stream is None:
            raise not_found("RESOURCE_DOES_NOT_EXIST", f"No stream with handle {p.get('handle')}.")
        return stream

    def _add_block(self, p: dict[str, Any]) -> Response:
        block = base64.b64decode(p.get("data") or "")
        if len(block) > DBFS_MAX_READ:
            raise ApiError(400, "MAX_BLOCK_SIZE_EXCEEDED", "A block is limited to 1 MB")
        self._stream(p)[1].extend(block)
        return Response.empty()

    def _close(self, p: dict[str, Any]) -> Response:
        local, data = self._stream(p)
        with self._lock:
            del self._handles[int(p["handle"])]
        self._write(self.storage.public_dbfs(local), bytes(data), True)
        return Response.empty()


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def multipart_fields(request: Request) -> dict[str, Any]:
    """The fields of a `multipart/form-data` body (file fields as bytes, others as text)."""
    head = f"Content-Type: {request.headers.get('content-type')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        assert isinstance(payload, bytes)
        fields[str(name)] = payload if part.get_filename() or name == "contents" else payload.decode()
    return fields


# ====================================================================== Files API
class FilesApi:
    """`/api/2.0/fs/files/...` and `/api/2.0/fs/directories/...` for `/Volumes/...` and `/Models/...`."""

    def __init__(self, storage: Storage, unity: UnityCatalog) -> None:
        self.storage = storage
        self.unity = unity

    def _local(self, path: str) -> Path:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["Volumes"]:
            if len(parts) < 4:
                raise bad_request(f"A volume path is /Volumes/<catalog>/<schema>/<volume>/...: {path}")
            if not self.unity.volume_exists(*parts[1:4]):
                raise not_found("NOT_FOUND", f"Volume '{'.'.join(parts[1:4])}' does not exist.")
        elif parts[:1] == ["Models"]:
            if len(parts) < 5:
                raise bad_request(f"A model path is /Models/<catalog>/<schema>/<model>/<version>/...: {path}")
            if not self.unity.model_version_exists(".".join(parts[1:4]), parts[4]):
                raise not_found("NOT_FOUND", f"Model version '{'.'.join(parts[1:4])}/{parts[4]}' does not exist.")
        else:
            raise bad_request(f"The Files API here serves /Volumes/... and /Models/... paths, not {path}")
        return self.storage.files(path)

    def handle_file(self, request: Request, path: str) -> Response:
        local = self._local(path)
        method = request.method
        if method == "PUT":
            if local.is_dir():
                raise ApiError(409, "ALREADY_EXISTS", f"A directory exists at {path}")
            if local.exists() and request.query.get("overwrite", "true").lower() == "false":
                raise ApiError(409, "ALREADY_EXISTS", f"The file being created already exists: {path}")
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_bytes(request.body)
            os.replace(tmp, local)
            return Response.no_content()
        if method == "POST" and request.query.get("action"):
            raise Unsupported(method, request.path, "multipart and resumable uploads (files of 5 MiB and more)")
        if method in ("GET", "HEAD"):
            if not local.is_file():
                raise not_found("NOT_FOUND", f"The file being accessed is not found: {path}")
            st = local.stat()
            headers = {"Content-Type": "application/octet-stream", "Last-Modified": _http_date(st.st_mtime)}
            since = request.headers.get("if-unmodified-since")
            if since and parsedate_to_datetime(since).timestamp() < int(st.st_mtime):
                raise ApiError(412, "PRECONDITION_FAILED", f"The file was modified: {path}")
            if method == "HEAD":
                return Response(200, b"", {**headers, "Content-Length": str(st.st_size)})
            data = local.read_bytes()
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("range", ""))
            if match:
                start, end = int(match.group(1)), int(match.group(2) or len(data) - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                return Response(206, data[start:end + 1], headers)
            return Response(200, data, headers)
        if method == "DELETE":
            if not local.is_file():
                raise not_found("NOT_FOUND", f"The file being accessed is not found: {path}")
            local.unlink()
            return Response.no_content()
        raise EndpointNotFound(method, request.path)

    def handle_directory(self, request: Request, path: str) -> Response:
        local = self._local(path)
        method = request.method
        if method == "PUT":
            if local.is_file():
                raise ApiError(409, "ALREADY_EXISTS", f"A file exists at {path}")
            local.mkdir(parents=True, exist_ok=True)
            return Response.no_content()
        if method in ("GET", "HEAD"):
            if not local.is_dir():
                raise not_found("NOT_FOUND", f"The directory being accessed is not found: {path}")
            if method == "HEAD":
                return Response(200)
            base = path.rstrip("/")
            contents = []
            for entry in sorted(local.iterdir()):
                if entry.name.startswith("."):
                    continue
                item: dict[str, Any] = {"path": f"{base}/{entry.name}", "name": entry.name,
                                        "is_directory": entry.is_dir(),
                                        "last_modified": int(entry.stat().st_mtime * 1000)}
                if entry.is_file():
                    item["file_size"] = entry.stat().st_size
                contents.append(item)
            return Response.json({"contents": contents})
        if method == "DELETE":
            if not local.is_dir():
                raise not_found("NOT_FOUND", f"The directory being accessed is not found: {path}")
            if any(local.iterdir()):
                raise ApiError(409, "DIRECTORY_NOT_EMPTY", f"The directory is not empty: {path}")
            if len([p for p in path.split("/") if p]) <= 4 and path.startswith("/Volumes/"):
                raise bad_request(f"The root of a volume is deleted with its volume, not through the Files API: "
                                  f"{path}")
            local.rmdir()
            return Response.no_content()
        raise EndpointNotFound(method, request.path)


# ====================================================================== Workspace files and notebooks
NOTEBOOK_HEADER = "# Databricks notebook source"


class WorkspaceApi:
    """`/api/2.0/workspace/...`: source notebooks (stored as `<path>.py` starting with the notebook header,
    as Databricks exports them) and workspace files."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def notebook_source(self, path: str) -> Path | None:
        """The local file of the notebook at a workspace path (a `.py` workspace file is accepted too)."""
        local = self.storage.workspace(path)
        candidates = [local.with_name(local.name + ".py"), local] if local.suffix != ".py" else [local]
        return next((c for c in candidates if c.is_file()), None)

    def handle(self, request: Request, op: str) -> Response:
        method = request.method
        if (method, op) == ("POST", "import"):
            is_multipart = "multipart/form-data" in request.headers.get("content-type", "")
            return self._import(multipart_fields(request) if is_multipart else request.json())
        params = request.params()
        if (method, op) == ("POST", "mkdirs"):
            local = self.storage.workspace(request.require(params, "path"))
            if local.is_file():
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({params['path']}) already exists as a file.")
            local.mkdir(parents=True, exist_ok=True)
            return Response.empty()
        if (method, op) == ("GET", "get-status"):
            return Response.json(self._status(request.require(params, "path")))
        if (method, op) == ("GET", "list"):
            path = request.require(params, "path")
            if self._status(path)["object_type"] != "DIRECTORY":
                return Response.json({"objects": [self._status(path)]})
            local = self.storage.workspace(path)
            names = sorted({e.name.removesuffix(".py") if self._is_notebook(e) else e.name for e in local.iterdir()})
            return Response.json({"objects": [self._status(f"{path.rstrip('/')}/{n}") for n in names]})
        if (method, op) == ("POST", "delete"):
            path = request.require(params, "path")
            status = self._status(path)
            local = self.storage.workspace(path)
            if status["object_type"] == "DIRECTORY":
                if any(local.iterdir()) and not truthy(params.get("recursive")):
                    raise bad_request(f"Folder ({path}) is not empty", "DIRECTORY_NOT_EMPTY")
                shutil.rmtree(local)
            else:
                (self.notebook_source(path) or local).unlink()
            return Response.empty()
        if (method, op) == ("GET", "export"):
            path = request.require(params, "path")
            source = self.notebook_source(path) or self.storage.workspace(path)
            if not source.is_file():
                raise self._missing(path)
            if truthy(params.get("direct_download")):  # `workspace.download`: the bytes themselves
                return Response(200, source.read_bytes(), {"Content-Type": "application/octet-stream"})
            return Response.json({"content": base64.b64encode(source.read_bytes()).decode(), "file_type": "py"})
        raise EndpointNotFound(method, request.path)

    @staticmethod
    def _missing(path: str) -> ApiError:
        return not_found("RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")

    @staticmethod
    def _is_notebook(local: Path) -> bool:
        if local.suffix != ".py" or not local.is_file():
            return False
        with local.open("rb") as f:
            return f.read(len(NOTEBOOK_HEADER)).decode(errors="replace") == NOTEBOOK_HEADER

    def _status(self, path: str) -> dict[str, Any]:
        local = self.storage.workspace(path)
        notebook = local.with_name(local.name + ".py")
        object_id = zlib.crc32(path.encode())
        if self._is_notebook(notebook):
            return {"path": path, "object_type": "NOTEBOOK", "language": "PYTHON", "object_id": object_id}
        if local.is_dir():
            return {"path": path, "object_type": "DIRECTORY", "object_id": object_id}
        if local.is_file():
            return {"path": path, "object_type": "FILE", "object_id": object_id, "size": local.stat().st_size}
        raise self._missing(path)

    def _import(self, fields: dict[str, Any]) -> Response:
        path = fields.get("path") or ""
        content = fields.get("content") or b""
        data = content if isinstance(content, bytes) else base64.b64decode(content)
        fmt, language = (fields.get("format") or "SOURCE").upper(), (fields.get("language") or "").upper()
        overwrite = truthy(fields.get("overwrite"))
        text = data.decode(errors="replace")
        notebook = fmt == "SOURCE" or (fmt == "AUTO" and path.endswith(".py") and text.startswith(NOTEBOOK_HEADER))
        if fmt not in ("SOURCE", "AUTO", "RAW"):
            raise Unsupported("POST", "/api/2.0/workspace/import", f"the {fmt} import format")
        if notebook and fmt == "SOURCE" and language not in ("PYTHON", ""):
            raise Unsupported("POST", "/api/2.0/workspace/import", f"{language} notebooks")
        local = self.storage.workspace(path.removesuffix(".py") if notebook and fmt == "AUTO" else path)
        target = local.with_name(local.name + ".py") if notebook else local
        if target.exists() and not overwrite:
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
        if not local.parent.is_dir():
            raise not_found("RESOURCE_DOES_NOT_EXIST", f"The parent folder ({posixpath.dirname(path)}) does not "
                                                       "exist.")
        if notebook and not text.startswith(NOTEBOOK_HEADER):
            data = (NOTEBOOK_HEADER + "\n" + text).encode()
        target.write_bytes(data)
        return Response.empty()


# ====================================================================== the server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    workspace: StandInWorkspace  # set on a subclass per stand-in

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command, path=unquote(parts.path),
            query={k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            headers={k.lower(): v for k, v in self.headers.items()}, body=self._read_body())
        response = self.workspace.dispatch(request)
        self.send_response(response.status)
        headers = {"Content-Length": str(len(response.body)), **response.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class StandInWorkspace:
    """A Databricks workspace's REST surface on `127.0.0.1`, with its state under `root`.

    Args:
        root: the folder holding the workspace's storage and state (created if missing).
        token: the personal access token clients must send (`Authorization: Bearer <token>`).
        spark_remote: the `sc://` URL of the Spark Connect server the "cluster" uses (settable later, e.g.
            once the server is up: `workspace.spark_remote = ...`); without one, tasks get no SparkSession.
        cluster_python: the python that runs the tasks.
        cluster_env: extra environment for the cluster processes (e.g. a `PYTHONPATH`).
        catalogs: Unity Catalog catalogs created when missing.
        fuse: point `/dbfs`, `/Volumes` and `/Workspace` at this stand-in's storage while it runs.

    Attributes: `host` (`http://127.0.0.1:<port>`, once started), `token`, `root`, `storage`, `unity`,
    `runs` (run id -> `JobRun`), `calls` ("METHOD /path" of every authenticated call), `unknown_calls` (those
    answered with `ENDPOINT_NOT_FOUND`), `internal_errors` (tracebacks of the stand-in's own failures).
    """

    def __init__(self, root: Path | str, token: str = "dapi-stand-in-token", *, spark_remote: str | None = None,
                 cluster_python: str = sys.executable, cluster_env: Mapping[str, str] | None = None,
                 catalogs: Iterable[str] = ("main",), fuse: bool = True) -> None:
        self.root = Path(root).resolve()
        self.token = token
        self.spark_remote = spark_remote
        self.cluster_python = cluster_python
        self.cluster_env = dict(cluster_env or {})
        self.catalogs = list(catalogs)
        self.storage = Storage(self.root)
        self.calls: list[str] = []
        self.unknown_calls: list[str] = []
        self.internal_errors: list[str] = []
        self._fuse = FuseView({"/dbfs": self.storage.dbfs_root, "/Volumes": self.storage.volumes_root,
                               "/Workspace": self.storage.workspace_root}) if fuse else None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for folder in (self.storage.dbfs_root, self.storage.volumes_root, self.storage.models_root,
                       self.storage.workspace_root, self.root / "clusters"):
            folder.mkdir(parents=True, exist_ok=True)
        self.unity = UnityCatalog(self.root / "unity_catalog.json", self.root, self.catalogs)
        self.jobs = JobsApi(self)
        self.dbfs_api = DbfsApi(self.storage)
        self.files_api = FilesApi(self.storage, self.unity)
        self.workspace_api = WorkspaceApi(self.storage)
        files = self.files_api
        self._routes: list[tuple[str, Callable[[Request, str], Response]]] = [
            ("/api/2.2/jobs/", self.jobs.handle), ("/api/2.1/jobs/", self.jobs.handle),
            ("/api/2.0/dbfs/", self.dbfs_api.handle),
            ("/api/2.0/fs/files/", lambda r, rest: files.handle_file(r, "/" + rest)),
            ("/api/2.0/fs/directories/", lambda r, rest: files.handle_directory(r, "/" + rest)),
            ("/api/2.0/workspace/", self.workspace_api.handle),
            ("/api/2.1/unity-catalog/", self.unity.handle_catalog),
            ("/api/2.0/mlflow/unity-catalog/", self.unity.handle_registry),
        ]

    # -- life cycle
    @property
    def host(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in workspace is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def runs(self) -> dict[int, JobRun]:
        return self.jobs.runs

    def start(self) -> Self:
        """Points the FUSE view at this stand-in and serves on a free port of 127.0.0.1 from a daemon thread."""
        if self._fuse is not None:
            self._fuse.mount()
        try:
            handler = type("StandInHandler", (_Handler,), {"workspace": self})
            self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        except BaseException:
            if self._fuse is not None:
                self._fuse.unmount()
            raise
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="stand-in-workspace", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Cancels the runs still going (their processes end), stops serving, takes the FUSE view down and writes
        every call it answered to `<root>/calls.log`."""
        for run in list(self.runs.values()):
            self.jobs.cancel(run)
        for run in list(self.runs.values()):
            for process in run.processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            run.finished.wait(10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._fuse is not None:
            self._fuse.unmount()
        (self.root / "calls.log").write_text("".join(f"{call}\n" for call in self.calls))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests
    def dispatch(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return ApiError(401, "UNAUTHENTICATED", "Credential was not sent or was of an unsupported type for "
                                                    "this API.").response()
        self.calls.append(f"{request.method} {request.path}")
        try:
            for prefix, route in self._routes:
                if request.path.startswith(prefix):
                    return route(request, request.path[len(prefix):])
            raise EndpointNotFound(request.method, request.path)
        except EndpointNotFound as e:
            self.unknown_calls.append(f"{request.method} {request.path}")
            return e.response()
        except ApiError as e:
            return e.response()
        except Exception as e:  # noqa: BLE001  (answered as a server error, and recorded for the tests)
            self.internal_errors.append(f"{request.method} {request.path}: {traceback.format_exc()}")
            return ApiError(500, "INTERNAL_ERROR", f"{type(e).__name__}: {e}").response()
