"""The small HTTP vocabulary the stand-in workspace's APIs share: requests, responses, errors, a JSON store."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def now_ms() -> int:
    """Milliseconds since the epoch, the unit of every Databricks timestamp."""
    return int(time.time() * 1000)


class ApiError(Exception):
    """An error answered the way Databricks answers it: an HTTP status and `{"error_code", "message"}`."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message

    def response(self) -> Response:
        return Response.json({"error_code": self.error_code, "message": self.message}, status=self.status)


class EndpointNotFound(ApiError):
    """No such endpoint (or no such method on it): the workspace answers 404 `ENDPOINT_NOT_FOUND`."""

    def __init__(self, method: str, path: str) -> None:
        super().__init__(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")


class Unsupported(EndpointNotFound):
    """A real endpoint, or a field of one, that the stand-in does not implement: answered like an unknown
    endpoint (and recorded as one) rather than with a made-up answer."""

    def __init__(self, method: str, path: str, what: str) -> None:
        super().__init__(method, path)
        self.message = f"The stand-in workspace does not implement {what} ({method} {path})"


def not_found(error_code: str, message: str) -> ApiError:
    return ApiError(404, error_code, message)


def bad_request(message: str, error_code: str = "INVALID_PARAMETER_VALUE") -> ApiError:
    return ApiError(400, error_code, message)


@dataclass(frozen=True)
class Request:
    """One HTTP request: `path` is percent-decoded and has no query; `query` keeps the first value of each key."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The JSON object in the body (`{}` for an empty body)."""
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except ValueError as e:
            raise bad_request(f"Invalid JSON given in the body of the request: {e}", "MALFORMED_REQUEST") from e
        if not isinstance(value, dict):
            raise bad_request("The body of the request must be a JSON object", "MALFORMED_REQUEST")
        return value

    def params(self) -> dict[str, Any]:
        """Query parameters and JSON body together: clients send GET parameters in the query and the rest in
        the body (MLflow sends DELETE parameters in a JSON body)."""
        body = self.json() if self.body and "json" in self.headers.get("content-type", "json").lower() else {}
        return {**self.query, **body}

    def require(self, params: Mapping[str, Any], key: str) -> Any:
        value = params.get(key)
        if value in (None, ""):
            raise bad_request(f"Missing required field: {key}")
        return value


@dataclass
class Response:
    """An HTTP answer. A `Content-Length` in `headers` wins over the body's length (HEAD answers)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

    @classmethod
    def empty(cls, status: int = 200) -> Response:
        """`{}`, what most Databricks mutations answer."""
        return cls.json({}, status)

    @classmethod
    def no_content(cls) -> Response:
        return cls(204)


class JsonStore:
    """A JSON document kept in memory, guarded by a lock and written atomically after each change, so the
    state survives a restart of the stand-in on the same root and can be read by a test."""

    def __init__(self, path: Path, initial: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._data: dict[str, Any] = initial()
        if path.exists():
            self._data.update(json.loads(path.read_text()))

    def read(self, fn: Callable[[dict[str, Any]], T]) -> T:
        with self._lock:
            return fn(self._data)

    def write(self, fn: Callable[[dict[str, Any]], T]) -> T:
        """Runs `fn` on the document under the lock and saves it (also when `fn` raises after a change)."""
        with self._lock:
            try:
                return fn(self._data)
            finally:
                self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self._data, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
