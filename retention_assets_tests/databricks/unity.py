"""Unity Catalog for the stand-in workspace: catalogs, schemas, tables, volumes, catalog-managed Delta commits,
and the MLflow `databricks-uc` model registry.

Two REST surfaces share one state (a JSON file, written atomically after each change):

* `/api/2.1/unity-catalog/...`: what `databricks-sdk` (`ws.catalogs`, `ws.schemas`, `ws.tables`,
  `ws.volumes`) and Sail's `unity` catalog provider call. Storage is local (`file://`), so the
  temporary-credential endpoints answer without credentials.
* `/api/2.0/mlflow/unity-catalog/...`: what MLflow's `UcModelRegistryStore` (registry URI `databricks-uc`)
  calls. Model names are three-level `catalog.schema.model` and the schema must exist, as on a workspace;
  artifacts go through the Files API under `/Models/<catalog>/<schema>/<model>/<version>/`.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._rest import (
    ApiError,
    EndpointNotFound,
    JsonStore,
    Request,
    Response,
    Unsupported,
    bad_request,
    not_found,
    now_ms,
)

USER = "stand-in-user@example.com"
METASTORE_ID = "00000000-0000-0000-0000-000000000000"

# (collection in the state, error-code noun, REST noun): the securables with CRUD endpoints
_KINDS = {
    "catalogs": ("CATALOG", "Catalog"),
    "schemas": ("SCHEMA", "Schema"),
    "tables": ("TABLE", "Table"),
    "volumes": ("VOLUME", "Volume"),
}
# fields a PATCH may change; a rename (`new_name`) is not implemented
_PATCHABLE = {"comment", "owner", "properties", "isolation_mode", "enable_predictive_optimization"}


def _empty_state() -> dict[str, Any]:
    return {"catalogs": {}, "schemas": {}, "tables": {}, "volumes": {}, "staging_tables": {}, "commits": {},
            "registered_models": {}}


def _split(full_name: str, levels: int, noun: str) -> list[str]:
    parts = full_name.split(".")
    if len(parts) != levels or not all(parts):
        raise bad_request(f"Invalid {noun} name '{full_name}': expected {levels} dot-separated levels")
    return parts


class UnityCatalog:
    """The Unity Catalog metastore of one stand-in workspace.

    Args:
        state_path: the JSON file holding the state (loaded if it exists).
        storage_root: the local folder behind managed storage (volumes, staging tables, model versions).
        catalogs: catalogs created when missing.
    """

    def __init__(self, state_path: Path, storage_root: Path, catalogs: Sequence[str]) -> None:
        self.storage_root = storage_root
        self.store = JsonStore(state_path, _empty_state)
        def create_missing(st: dict[str, Any]) -> None:
            for name in catalogs:
                st["catalogs"].setdefault(name, self._catalog_info({"name": name}))

        self.store.write(create_missing)

    # ------------------------------------------------------------------ queries used by the other APIs
    def volume_exists(self, catalog: str, schema: str, volume: str) -> bool:
        return self.store.read(lambda st: f"{catalog}.{schema}.{volume}" in st["volumes"])

    def model_version_exists(self, full_name: str, version: str) -> bool:
        return self.store.read(lambda st: version in st["registered_models"].get(full_name, {}).get("versions", {}))

    def table(self, full_name: str) -> dict[str, Any] | None:
        return self.store.read(lambda st: st["tables"].get(full_name))

    # ------------------------------------------------------------------ /api/2.1/unity-catalog/...
    def handle_catalog(self, request: Request, rest: str) -> Response:
        """`rest` is the path after `/api/2.1/unity-catalog/`."""
        kind, _, name = rest.partition("/")
        if kind in _KINDS:
            return self._crud(request, kind, name)
        if kind == "staging-tables" and request.method == "POST" and not name:
            return self.store.write(lambda st: self._create_staging_table(st, request.json()))
        if rest == "delta/preview/commits" and request.method in ("GET", "POST"):
            return self.store.write(lambda st: self._commits(st, request))
        if kind in ("temporary-table-credentials", "temporary-path-credentials") and request.method == "POST":
            return self._temporary_credentials(kind, request.json())
        raise EndpointNotFound(request.method, request.path)

    def _catalog_info(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body["name"]
        return {"name": name, "full_name": name, "id": str(uuid.uuid4()), "catalog_type": "MANAGED_CATALOG",
                "comment": body.get("comment"), "properties": body.get("properties") or {},
                "storage_root": body.get("storage_root"), "isolation_mode": "OPEN", "metastore_id": METASTORE_ID,
                **self._audit()}

    @staticmethod
    def _audit() -> dict[str, Any]:
        t = now_ms()
        return {"owner": USER, "created_at": t, "created_by": USER, "updated_at": t, "updated_by": USER}

    def _crud(self, request: Request, kind: str, name: str) -> Response:
        method = request.method
        if not name:
            if method == "POST":
                return self.store.write(lambda st: self._create(st, kind, request.json()))
            if method == "GET":
                return self.store.read(lambda st: self._list(st, kind, request.query))
            raise EndpointNotFound(method, request.path)
        if kind == "tables" and name.endswith("/exists") and method == "GET":
            full = name.removesuffix("/exists")
            return self.store.read(lambda st: Response.json({"table_exists": full in st["tables"]}))
        if "/" in name:
            raise EndpointNotFound(method, request.path)
        if method == "GET":
            return self.store.read(lambda st: Response.json(self._get(st, kind, name)))
        if method == "DELETE":
            return self.store.write(lambda st: self._delete(st, kind, name, request.query.get("force") == "true"))
        if method == "PATCH":
            body = request.json()
            if set(body) - _PATCHABLE - {"name", "full_name"}:
                raise Unsupported(method, request.path, f"changing {sorted(set(body) - _PATCHABLE)} of a {kind[:-1]}")
            return self.store.write(lambda st: Response.json(self._patch(st, kind, name, body)))
        raise EndpointNotFound(method, request.path)

    def _get(self, st: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
        info = st[kind].get(name)
        if info is None:
            code, noun = _KINDS[kind]
            raise not_found(f"{code}_DOES_NOT_EXIST", f"{noun} '{name}' does not exist.")
        return info

    def _require_schema(self, st: dict[str, Any], catalog: str, schema: str) -> None:
        self._get(st, "catalogs", catalog)
        self._get(st, "schemas", f"{catalog}.{schema}")

    def _create(self, st: dict[str, Any], kind: str, body: dict[str, Any]) -> Response:
        name = body.get("name")
        if not name:
            raise bad_request("Missing required field: name")
        if kind == "catalogs":
            full, info = name, self._catalog_info(body)
        elif kind == "schemas":
            catalog = body.get("catalog_name") or ""
            self._get(st, "catalogs", catalog)
            full = f"{catalog}.{name}"
            info = {"name": name, "catalog_name": catalog, "full_name": full, "schema_id": str(uuid.uuid4()),
                    "comment": body.get("comment"), "properties": body.get("properties") or {},
                    "storage_root": body.get("storage_root"), "metastore_id": METASTORE_ID, **self._audit()}
        elif kind == "tables":
            catalog, schema = body.get("catalog_name") or "", body.get("schema_name") or ""
            self._require_schema(st, catalog, schema)
            full = f"{catalog}.{schema}.{name}"
            table_id = str(uuid.uuid4())
            staged = [k for k, v in st["staging_tables"].items()
                      if v["staging_location"].rstrip("/") == str(body.get("storage_location") or "").rstrip("/")]
            if staged:  # a managed table created at its staging table's location takes over the staging id
                table_id = st["staging_tables"].pop(staged[0])["id"]
            elif body.get("table_type") == "MANAGED":
                raise bad_request("A managed table is created at the storage location of a staging table")
            info = {k: body.get(k) for k in ("table_type", "data_source_format", "columns", "storage_location",
                                             "comment", "properties")}
            info.update(name=name, catalog_name=catalog, schema_name=schema, full_name=full, table_id=table_id,
                        metastore_id=METASTORE_ID, **self._audit())
            info["columns"] = info["columns"] or []
            info["properties"] = info["properties"] or {}
        else:  # volumes
            catalog, schema = body.get("catalog_name") or "", body.get("schema_name") or ""
            self._require_schema(st, catalog, schema)
            full = f"{catalog}.{schema}.{name}"
            volume_type = body.get("volume_type") or "MANAGED"
            local = self.storage_root / "Volumes" / catalog / schema / name
            location = body.get("storage_location") or local.as_uri()
            if volume_type == "EXTERNAL" and not body.get("storage_location"):
                raise bad_request("An external volume needs a storage_location")
            info = {"name": name, "catalog_name": catalog, "schema_name": schema, "full_name": full,
                    "volume_id": str(uuid.uuid4()), "volume_type": volume_type, "storage_location": location,
                    "comment": body.get("comment"), "metastore_id": METASTORE_ID, **self._audit()}
            local.mkdir(parents=True, exist_ok=True)
        if full in st[kind]:
            code, noun = _KINDS[kind]
            raise ApiError(409, f"{code}_ALREADY_EXISTS", f"{noun} '{full}' already exists")
        st[kind][full] = info
        return Response.json(info)

    def _list(self, st: dict[str, Any], kind: str, query: dict[str, str] | Any) -> Response:
        if kind == "catalogs":
            items = list(st["catalogs"].values())
        elif kind == "schemas":
            catalog = query.get("catalog_name") or ""
            self._get(st, "catalogs", catalog)
            items = [v for v in st["schemas"].values() if v["catalog_name"] == catalog]
        else:
            catalog, schema = query.get("catalog_name") or "", query.get("schema_name") or ""
            self._require_schema(st, catalog, schema)
            items = [v for v in st[kind].values() if v["catalog_name"] == catalog and v["schema_name"] == schema]
        return Response.json({kind: sorted(items, key=lambda v: v["full_name"])})

    def _delete(self, st: dict[str, Any], kind: str, name: str, force: bool) -> Response:
        self._get(st, kind, name)
        children = {"catalogs": ("schemas",), "schemas": ("tables", "volumes")}.get(kind, ())
        inner = [k for c in children for k in st[c] if k.startswith(name + ".")]
        if kind == "catalogs":
            inner += [k for c in ("tables", "volumes") for k in st[c] if k.startswith(name + ".")]
        if kind == "schemas":
            inner += [k for k in st["registered_models"] if k.startswith(name + ".")]
        if inner and not force:
            code, noun = _KINDS[kind]
            raise bad_request(f"{noun} '{name}' is not empty. Use force=true to delete it with its contents.",
                              f"{code}_NOT_EMPTY")
        for collection in ("schemas", "tables", "volumes", "registered_models"):
            for key in [k for k in st[collection] if k.startswith(name + ".")]:
                self._drop_storage(collection, st[collection].pop(key))
        self._drop_storage(kind, st[kind].pop(name))
        return Response.empty()

    def _drop_storage(self, kind: str, info: dict[str, Any]) -> None:
        """A managed volume's files, and a registered model's artifacts, go with them (managed tables' files stay,
        as Databricks keeps them for a while after a DROP)."""
        if kind == "volumes" and info.get("volume_type") == "MANAGED":
            shutil.rmtree(self.storage_root / "Volumes" / info["catalog_name"] / info["schema_name"] / info["name"],
                          ignore_errors=True)
        elif kind == "registered_models":
            shutil.rmtree(self.storage_root / "Models" / Path(*info["name"].split(".")), ignore_errors=True)

    def _patch(self, st: dict[str, Any], kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        info = self._get(st, kind, name)
        info.update({k: v for k, v in body.items() if k in _PATCHABLE})
        info.update(updated_at=now_ms(), updated_by=USER)
        return info

    def _create_staging_table(self, st: dict[str, Any], body: dict[str, Any]) -> Response:
        """A managed table starts as a staging table: the catalog picks its storage location."""
        catalog, schema, name = body.get("catalog_name") or "", body.get("schema_name") or "", body.get("name") or ""
        self._require_schema(st, catalog, schema)
        staging_id = str(uuid.uuid4())
        local = self.storage_root / "managed" / catalog / schema / staging_id
        local.mkdir(parents=True, exist_ok=True)
        info = {"id": staging_id, "staging_location": local.as_uri(), "name": name, "catalog_name": catalog,
                "schema_name": schema}
        st["staging_tables"][staging_id] = info
        return Response.json(info)

    @staticmethod
    def _commits(st: dict[str, Any], request: Request) -> Response:
        """Catalog-managed Delta commits: the catalog ratifies version N+1 after N, the engine backfills them
        into `_delta_log` and reports the latest backfilled version."""
        params = request.params()
        table_id = request.require(params, "table_id")
        record = st["commits"].setdefault(table_id, {"commits": {}, "latest": -1})
        if request.method == "POST":
            commit = params.get("commit_info")
            if commit:
                version = int(commit["version"])
                if record["latest"] >= 0 and version != record["latest"] + 1:
                    raise ApiError(409, "ALREADY_EXISTS", f"Commit version {version} conflicts: the latest ratified "
                                                          f"version of table {table_id} is {record['latest']}")
                record["commits"][str(version)] = commit
                record["latest"] = version
            backfilled = params.get("latest_backfilled_version")
            if backfilled is not None:
                backfilled = int(backfilled)
                record["commits"] = {k: c for k, c in record["commits"].items() if int(k) > backfilled}
                record["latest"] = max(record["latest"], backfilled)
            return Response.empty()
        start = int(params.get("start_version") or 0)
        end = params.get("end_version")
        commits = [c for k, c in sorted(record["commits"].items(), key=lambda kv: int(kv[0]))
                   if int(k) >= start and (end is None or int(k) <= int(end))]
        return Response.json({"commits": commits, "latest_table_version": record["latest"]})

    def _temporary_credentials(self, kind: str, body: dict[str, Any]) -> Response:
        """Local storage needs no credentials: the answer carries only the expiry and the URL."""
        url = body.get("url")
        if kind == "temporary-table-credentials":
            table_id = body.get("table_id")
            tables = self.store.read(lambda st: [t for t in st["tables"].values() if t["table_id"] == table_id])
            staging = self.store.read(lambda st: st["staging_tables"].get(table_id or ""))
            if tables:
                url = tables[0]["storage_location"]
            elif staging:
                url = staging["staging_location"]
            else:
                raise not_found("TABLE_DOES_NOT_EXIST", f"Table with id '{table_id}' does not exist.")
        return Response.json({"expiration_time": now_ms() + 3_600_000, "url": url})

    # ------------------------------------------------------------------ /api/2.0/mlflow/unity-catalog/...
    def handle_registry(self, request: Request, rest: str) -> Response:
        """`rest` is the path after `/api/2.0/mlflow/unity-catalog/`."""
        if rest == "registered-models:is-databricks-sdk-models-artifact-repository-enabled" and request.method == "GET":
            return Response.json({"is_databricks_sdk_models_artifact_repository_enabled": True})
        route = self._registry_routes().get((request.method, rest))
        if route is None:
            raise EndpointNotFound(request.method, request.path)
        params = request.params()
        access = self.store.read if request.method == "GET" else self.store.write
        return access(lambda st: Response.json(route(st, params)))

    def _registry_routes(self) -> dict[tuple[str, str], Callable[[dict[str, Any], dict[str, Any]], Any]]:
        return {
            ("POST", "registered-models/create"): self._rm_create,
            ("GET", "registered-models/get"): lambda st, p: {"registered_model": self._rm_public(self._rm(st, p))},
            ("GET", "registered-models/search"): self._rm_search,
            ("PATCH", "registered-models/update"): self._rm_update,
            ("DELETE", "registered-models/delete"): self._rm_delete,
            ("POST", "registered-models/set-tag"): self._rm_set_tag,
            ("DELETE", "registered-models/delete-tag"): self._rm_delete_tag,
            ("POST", "registered-models/alias"): self._alias_set,
            ("DELETE", "registered-models/alias"): self._alias_delete,
            ("GET", "registered-models/alias"): self._alias_get,
            ("POST", "model-versions/create"): self._mv_create,
            ("POST", "model-versions/finalize"): self._mv_finalize,
            ("GET", "model-versions/get"): lambda st, p: {"model_version": self._mv_public(*self._mv(st, p))},
            ("GET", "model-versions/search"): self._mv_search,
            ("GET", "model-versions/get-download-uri"): lambda st, p: {
                "artifact_uri": self._mv(st, p)[1]["storage_location"]},
            ("PATCH", "model-versions/update"): self._mv_update,
            ("DELETE", "model-versions/delete"): self._mv_delete,
            ("POST", "model-versions/set-tag"): self._mv_set_tag,
            ("DELETE", "model-versions/delete-tag"): self._mv_delete_tag,
            ("POST", "model-versions/generate-temporary-credentials"): lambda st, p: (self._mv(st, p), {
                "credentials": {"storage_mode": "CUSTOMER_HOSTED", "expiration_time": now_ms() + 3_600_000}})[1],
            ("POST", "model-versions/emit-lineage"): lambda st, p: (self._mv(st, p), {})[1],
        }

    @staticmethod
    def _model_name(params: dict[str, Any]) -> tuple[str, str, str, str]:
        name = str(params.get("name") or params.get("full_name") or "")
        parts = name.split(".")
        if len(parts) != 3 or not all(parts):
            raise bad_request(f"Invalid registered model name '{name}'. Models in Unity Catalog must be named "
                              "catalog.schema.model: please specify all three levels of the name.")
        return name, parts[0], parts[1], parts[2]

    def _rm(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        name = self._model_name(params)[0]
        rm = st["registered_models"].get(name)
        if rm is None:
            raise not_found("RESOURCE_DOES_NOT_EXIST", f"Registered model '{name}' does not exist.")
        return rm

    def _mv(self, st: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        rm = self._rm(st, params)
        version = str(params.get("version") or "")
        mv = rm["versions"].get(version)
        if mv is None:
            raise not_found("RESOURCE_DOES_NOT_EXIST", f"Model version {version} of '{rm['name']}' does not exist.")
        return rm, mv

    @staticmethod
    def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
        return [{"key": k, "value": v} for k, v in sorted(tags.items())]

    def _rm_public(self, rm: dict[str, Any]) -> dict[str, Any]:
        out = {k: rm[k] for k in ("name", "creation_timestamp", "last_updated_timestamp", "user_id", "description")
               if rm.get(k) is not None}
        out["aliases"] = [{"alias": a, "version": v} for a, v in sorted(rm["aliases"].items())]
        out["tags"] = self._tags(rm["tags"])
        return out

    def _mv_public(self, rm: dict[str, Any], mv: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in mv.items() if k != "tags" and v is not None}
        out["name"] = rm["name"]
        out["tags"] = self._tags(mv["tags"])
        out["aliases"] = [{"alias": a, "version": v} for a, v in sorted(rm["aliases"].items()) if v == mv["version"]]
        return out

    def _rm_create(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        name, catalog, schema, _ = self._model_name(params)
        self._require_schema(st, catalog, schema)
        if name in st["registered_models"]:
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Registered model '{name}' already exists.")
        t = now_ms()
        rm = {"name": name, "creation_timestamp": t, "last_updated_timestamp": t, "user_id": USER,
              "description": params.get("description"), "aliases": {}, "versions": {}, "next_version": 1,
              "tags": {tag["key"]: tag.get("value", "") for tag in params.get("tags") or []}}
        st["registered_models"][name] = rm
        return {"registered_model": self._rm_public(rm)}

    def _rm_search(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        models = sorted(st["registered_models"].values(), key=lambda rm: rm["name"])
        return {"registered_models": [self._rm_public(rm) for rm in models]}

    def _rm_update(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm = self._rm(st, params)
        if params.get("new_name"):
            raise Unsupported("PATCH", "registered-models/update", "renaming a registered model")
        if "description" in params:
            rm["description"] = params["description"]
        rm["last_updated_timestamp"] = now_ms()
        return {"registered_model": self._rm_public(rm)}

    def _rm_delete(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm = self._rm(st, params)
        self._drop_storage("registered_models", st["registered_models"].pop(rm["name"]))
        return {}

    def _rm_set_tag(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm = self._rm(st, params)
        rm["tags"][str(params.get("key"))] = str(params.get("value", ""))
        return {}

    def _rm_delete_tag(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        self._rm(st, params)["tags"].pop(str(params.get("key")), None)
        return {}

    def _alias_set(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm, mv = self._mv(st, params)
        rm["aliases"][str(params.get("alias"))] = mv["version"]
        return {}

    def _alias_delete(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        self._rm(st, params)["aliases"].pop(str(params.get("alias")), None)
        return {}

    def _alias_get(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm = self._rm(st, params)
        alias = str(params.get("alias"))
        if alias not in rm["aliases"]:
            raise not_found("RESOURCE_DOES_NOT_EXIST", f"Alias '{alias}' does not exist for '{rm['name']}'.")
        mv = rm["versions"][rm["aliases"][alias]]
        return {"model_version": self._mv_public(rm, mv)}

    def _mv_create(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm = self._rm(st, params)
        version = str(rm["next_version"])  # version numbers are never reused, also after a deletion
        rm["next_version"] += 1
        local = self.storage_root / "Models" / Path(*rm["name"].split(".")) / version
        local.mkdir(parents=True, exist_ok=True)
        t = now_ms()
        mv = {"version": version, "creation_timestamp": t, "last_updated_timestamp": t, "user_id": USER,
              "description": params.get("description"), "source": params.get("source"),
              "run_id": params.get("run_id"), "run_tracking_server_id": params.get("run_tracking_server_id"),
              "model_id": params.get("model_id"), "status": "PENDING_REGISTRATION",
              "storage_location": local.as_uri(),
              "tags": {tag["key"]: tag.get("value", "") for tag in params.get("tags") or []}}
        rm["versions"][version] = mv
        rm["last_updated_timestamp"] = t
        return {"model_version": self._mv_public(rm, mv)}

    def _mv_finalize(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm, mv = self._mv(st, params)
        mv["status"] = "READY"
        mv["last_updated_timestamp"] = now_ms()
        return {"model_version": self._mv_public(rm, mv)}

    _FILTER = re.compile(r"""^\s*(name|run_id)\s*=\s*(['"])(.*)\2\s*$""")

    def _mv_search(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        flt = str(params.get("filter") or "")
        key = value = None
        if flt.strip():
            match = self._FILTER.match(flt)
            if match is None:
                raise bad_request(f"Unsupported filter '{flt}': use name = '<catalog.schema.model>' or run_id = '<id>'")
            key, value = match.group(1), match.group(3)
        out = []
        for rm in sorted(st["registered_models"].values(), key=lambda rm: rm["name"]):
            if key == "name" and rm["name"] != value:
                continue
            for mv in sorted(rm["versions"].values(), key=lambda mv: -int(mv["version"])):
                if key == "run_id" and mv.get("run_id") != value:
                    continue
                out.append(self._mv_public(rm, mv))
        return {"model_versions": out}

    def _mv_update(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm, mv = self._mv(st, params)
        if "description" in params:
            mv["description"] = params["description"]
        mv["last_updated_timestamp"] = now_ms()
        return {"model_version": self._mv_public(rm, mv)}

    def _mv_delete(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        rm, mv = self._mv(st, params)
        del rm["versions"][mv["version"]]
        rm["aliases"] = {a: v for a, v in rm["aliases"].items() if v != mv["version"]}
        shutil.rmtree(self.storage_root / "Models" / Path(*rm["name"].split(".")) / mv["version"],
                      ignore_errors=True)
        return {}

    def _mv_set_tag(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        _, mv = self._mv(st, params)
        mv["tags"][str(params.get("key"))] = str(params.get("value", ""))
        return {}

    def _mv_delete_tag(self, st: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        _, mv = self._mv(st, params)
        mv["tags"].pop(str(params.get("key")), None)
        return {}
