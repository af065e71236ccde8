"""What users and serving read, and how a run changes it all at once: generations, the release
manifest that names the published one, the switch, and the recovery of failed or killed runs."""

from retention_assets.publication.generations import (
    ChampionDecision,
    Release,
    generation_dir,
    generation_id,
    read_decision,
    read_release,
    write_decision,
)

__all__ = ["ChampionDecision", "Release", "generation_dir", "generation_id", "read_decision", "read_release",
           "write_decision"]
