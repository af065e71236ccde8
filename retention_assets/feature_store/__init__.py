"""The project's Feast repository: the feature view, per-model feature services, historical and online reads."""
