"""A step request (which step, the settings, its inputs) and the registry that runs it on an engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from retention_assets.engine.base import Engine
from retention_assets.settings import Settings
from retention_assets.steps import layers
from retention_assets.steps.report import StepReport, jsonable

STEPS: dict[str, Callable[[Engine, Settings, dict[str, Any]], StepReport]] = {
    "raw": layers.raw_source,
    "bronze_entity": layers.bronze_entity,
    "bronze_event": layers.bronze_event,
    "silver": layers.silver,
    "labels": layers.labels,
    "gold": layers.gold,
    "scores": layers.scores,
}


@dataclass(frozen=True)
class StepRequest:
    """One step to run: its name in `STEPS`, the settings (as validated data) and its inputs (JSON-safe)."""

    step: str
    settings: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, step: str, settings: Settings, **params: Any) -> StepRequest:
        if step not in STEPS:
            raise KeyError(f"unknown step {step!r}; steps are {sorted(STEPS)}")
        data = settings.model_dump(mode="json")
        data["base_dir"] = str(settings.base_dir) if settings.base_dir else None
        return cls(step, data, jsonable(params))

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "settings": self.settings, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRequest:
        return cls(data["step"], data["settings"], data.get("params") or {})

    def load_settings(self) -> Settings:
        return Settings.model_validate(self.settings)


def run_step(engine: Engine, request: StepRequest) -> StepReport:
    """Run a step on `engine`; its report is round-tripped through JSON, as it is when the step runs remotely."""
    report = STEPS[request.step](engine, request.load_settings(), request.params)
    return StepReport.from_dict(report.to_dict())
