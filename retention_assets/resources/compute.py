"""Where set-based transforms run. Local track: an in-process DuckDB session per step."""

from __future__ import annotations

import dagster as dg


class DuckDBCompute(dg.ConfigurableResource):
    """DuckDB sessions with bounded memory (DuckDB spills to disk beyond the limit)."""

    memory_limit: str = "2GB"
    threads: int | None = None

    def connect(self):
        from retention_assets.lib.duck import connect

        return connect(memory_limit=self.memory_limit, threads=self.threads)
