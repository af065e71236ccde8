"""Tests of the Databricks track against a stand-in workspace (the only fake: every client stays real)."""
