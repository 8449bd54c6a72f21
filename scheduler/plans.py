"""What runs for which media type: every upload starts with `probe`, then its plan."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepSpec:
    """One call of one function for one upload."""

    name: str
    function: str
    needs: tuple[str, ...] = ()
    source: str = "upload"  # "upload", or the name of an artefact an earlier step wrote
    outputs: tuple[str, ...] = ()  # artefacts this step writes through presigned PUT URLs
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["needs"] = list(self.needs)
        data["outputs"] = list(self.outputs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StepSpec":
        return cls(
            name=data["name"],
            function=data["function"],
            needs=tuple(data.get("needs", ())),
            source=data.get("source", "upload"),
            outputs=tuple(data.get("outputs", ())),
            options=dict(data.get("options", {})),
        )


@dataclass(frozen=True)
class Plan:
    media_type: str
    steps: tuple[StepSpec, ...]

    @property
    def names(self) -> list[str]:
        return [step.name for step in self.steps]


PROBE = StepSpec(name="probe", function="probe")


def plan_for(media_type: str, thumbnail_size: int = 320) -> Plan:
    """The steps that follow `probe` for an upload of this media type."""
    steps: list[StepSpec] = []
    if media_type in ("image", "video"):
        steps.append(
            StepSpec(
                name="thumbnail",
                function="thumbnail",
                needs=("probe",),
                outputs=("thumbnail.jpg",),
                options={"size": thumbnail_size, "media_type": media_type},
            )
        )
    return Plan(media_type=media_type, steps=tuple(steps))
