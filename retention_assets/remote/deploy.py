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
DAGSTER_PIPES = "dagster-pipes==1.13.27"  # the only Dagster library the entry point needs
# What the steps import on a cluster (the Dagster side's dagster, Feast, DuckDB and matplotlib stay off it):
# the cluster's wheel declares these instead of the project's full dependencies.
CLUSTER_REQUIREMENTS = (
    DAGSTER_PIPES, "pandas>=2.2,<3", "numpy>=1.26,<3", "pyarrow>=15", "pydantic>=2.6,<3", "pyyaml>=6",
    "scikit-learn>=1.5,<2", "threadpoolctl>=3", "shap==0.51.0", "mlflow-skinny>=3.17,<3.18",
)


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
    """The project's wheel for a cluster, built from the checkout: the same code, declaring only
    `CLUSTER_REQUIREMENTS` (a job library's dependencies are installed with it)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(out_dir), str(project_root())], check=True)
    wheel = out_dir / wheel_name()
    with_cluster_requirements(wheel)
    return wheel


def with_cluster_requirements(wheel: Path) -> None:
    """Rewrite the wheel's METADATA to require `CLUSTER_REQUIREMENTS` (and its RECORD to match)."""
    import base64
    import hashlib
    import zipfile

    with zipfile.ZipFile(wheel) as source:
        entries = {info.filename: source.read(info) for info in source.infolist()}
    metadata_name = next(n for n in entries if n.endswith(".dist-info/METADATA"))
    record_name = next(n for n in entries if n.endswith(".dist-info/RECORD"))
    kept = [line for line in entries[metadata_name].decode().splitlines() if not line.startswith("Requires-Dist:")]
    header_end = kept.index("") if "" in kept else len(kept)
    kept[header_end:header_end] = [f"Requires-Dist: {r}" for r in CLUSTER_REQUIREMENTS]
    entries[metadata_name] = ("\n".join(kept) + "\n").encode()

    def digest(data: bytes) -> str:
        return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    records = [f"{name},{digest(data)},{len(data)}" for name, data in entries.items() if name != record_name]
    entries[record_name] = ("\n".join([*records, f"{record_name},,"]) + "\n").encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)


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
