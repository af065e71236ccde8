"""Put the project's code where Databricks jobs can run it: the wheel (installed as a job library) and
the Pipes entry point (the `spark_python_task`'s file), under one code root on DBFS or a Volume.

`retention databricks-deploy` runs this; the databricks profile's steps then name the same paths.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

PACKAGE = "retention_assets"
DAGSTER_PIPES = "dagster-pipes==1.13.27"  # the only library the entry point needs besides the wheel


@dataclass(frozen=True)
class Deployment:
    """Where a deployed version of the code lives (a `dbfs:/` or `/Volumes/` root)."""

    code_root: str

    @property
    def entry_point(self) -> str:
        return f"{self.code_root.rstrip('/')}/entry.py"

    @property
    def wheel(self) -> str:
        return f"{self.code_root.rstrip('/')}/wheels/{wheel_name()}"

    @property
    def libraries(self) -> list[str]:
        return [self.wheel, DAGSTER_PIPES]


def wheel_name() -> str:
    return f"{PACKAGE}-{version('retention-assets')}-py3-none-any.whl"


def project_root() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").exists():
        raise FileNotFoundError(f"no pyproject.toml above {Path(__file__).resolve().parent}: deploy from a checkout "
                                "of the project (pip install -e .)")
    return root


def build_wheel(out_dir: Path) -> Path:
    """The project's wheel, built from the checkout (no dependencies bundled: the cluster has its own)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(out_dir), str(project_root())], check=True)
    return out_dir / wheel_name()


def upload(client, path: str, data: bytes) -> None:
    """One file to DBFS (`dbfs:/...`) or a Volume (`/Volumes/...`), replacing what was there."""
    if path.startswith("dbfs:"):
        client.dbfs.upload(path.removeprefix("dbfs:"), io.BytesIO(data), overwrite=True)
    elif path.startswith("/Volumes/"):
        client.files.upload(path, io.BytesIO(data), overwrite=True)
    else:
        raise ValueError(f"{path}: the code root must be on DBFS (dbfs:/...) or a Volume (/Volumes/...)")


def ensure_volume(client, path: str) -> None:
    """The schema and the Unity Catalog Volume a `/Volumes/<catalog>/<schema>/<volume>/...` path lives in,
    created (managed) if missing; the catalog must exist."""
    from databricks.sdk.errors import NotFound
    from databricks.sdk.service.catalog import VolumeType

    parts = path.split("/")
    if len(parts) < 5 or parts[1] != "Volumes" or not all(parts[2:5]):
        raise ValueError(f"{path} is not a Volume path (/Volumes/<catalog>/<schema>/<volume>/...)")
    catalog, schema, volume = parts[2:5]
    try:
        client.schemas.get(f"{catalog}.{schema}")
    except NotFound:
        client.schemas.create(name=schema, catalog_name=catalog)
    try:
        client.volumes.read(f"{catalog}.{schema}.{volume}")
    except NotFound:
        client.volumes.create(catalog_name=catalog, schema_name=schema, name=volume, volume_type=VolumeType.MANAGED)


def deploy(client, code_root: str, wheel: Path | None = None, pipes_volume: str | None = None) -> Deployment:
    """Build (unless given) and upload the wheel and the entry point; returns where they are. Volumes named
    by the code root or `pipes_volume` (serverless Pipes files) are created if missing."""
    target = Deployment(code_root)
    for path in (code_root, pipes_volume):
        if path and path.startswith("/Volumes/"):
            ensure_volume(client, path)
    with tempfile.TemporaryDirectory(prefix="retention_wheel_") as tmp:
        built = wheel or build_wheel(Path(tmp))
        upload(client, target.wheel, built.read_bytes())
    upload(client, target.entry_point, (Path(__file__).parent / "entry.py").read_bytes())
    return target
