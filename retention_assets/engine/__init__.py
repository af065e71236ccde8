"""Where set-based work runs: the engine protocol, one SQL dialect class per engine, and the DuckDB engine."""
