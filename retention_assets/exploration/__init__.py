"""Exploration: profiling sources from their values, reviewable findings, the recommendations registry, the run plan and model iterations."""
