"""Where tables live in a Unity Catalog: three-level names, one schema per layer, Delta data under a root.

A table's layer comes from its name (the asset that owns it; working tables carry their owner's name
before `__`), so every engine call still addresses tables by asset name and only this layout knows the
catalog. The `serving` schema holds only published copies (gold, scores, campaign), written when a run
publishes: what users query there changes only after every blocking check of a run passed. Tables are external Delta tables: the data is written to `<storage_root>/<schema>/<table>` and
then registered (`CREATE TABLE IF NOT EXISTS ... LOCATION`), which is valid on Databricks and on Sail.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Layer = Literal["raw", "bronze", "silver", "gold", "serving"]
LAYERS: tuple[Layer, ...] = ("raw", "bronze", "silver", "gold", "serving")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def table_layer(table: str) -> Layer:
    """The medallion layer a table belongs to, from the name of the asset that owns it."""
    owner = table.split("__", 1)[0]
    if owner.startswith("raw_"):
        return "raw"
    if owner.startswith("bronze_"):
        return "bronze"
    if owner.startswith("silver"):
        return "silver"
    return "gold"


def default_schemas() -> dict[str, str]:
    return {layer: f"retention_{layer}" for layer in LAYERS}


@dataclass(frozen=True)
class CatalogLayout:
    """A catalog, the schema of each layer, and the storage root of the tables' Delta data (a URL the
    engine can write: `file:///...` here, `s3://`, `abfss://` or a Volume path on a workspace)."""

    catalog: str
    storage_root: str
    schemas: dict[str, str] = field(default_factory=default_schemas)

    def __post_init__(self) -> None:
        missing = [layer for layer in LAYERS if layer not in self.schemas]
        if missing:
            raise ValueError(f"the catalog layout names no schema for layer(s) {missing}")
        for name in (self.catalog, *self.schemas.values()):
            if not _IDENTIFIER.match(name):
                raise ValueError(f"{name!r} is not a valid Unity Catalog name (letters, digits, underscores)")

    def schema(self, table: str) -> str:
        return f"{self.catalog}.{self.schemas[table_layer(table)]}"

    def full_name(self, table: str) -> str:
        return f"{self.schema(table)}.{table}"

    def quoted(self, table: str) -> str:
        return ".".join(f"`{part}`" for part in self.full_name(table).split("."))

    def storage(self, table: str) -> str:
        return f"{self.storage_root.rstrip('/')}/{self.schemas[table_layer(table)]}/{table}"

    def published_name(self, table: str) -> str:
        """Where a published table is read by users and serving: `catalog.<serving schema>.table`."""
        return f"{self.catalog}.{self.schemas['serving']}.{table}"

    def published_storage(self, table: str) -> str:
        return f"{self.storage_root.rstrip('/')}/{self.schemas['serving']}/{table}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CatalogLayout:
        return cls(data["catalog"], data["storage_root"], dict(data["schemas"]))
