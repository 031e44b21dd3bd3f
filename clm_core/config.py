"""Lifecycle configuration: stage thresholds and the framework mappings of DESIGN §1."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

#: Canonical stages of DESIGN §3.1, in lifecycle order.
STAGES = ("prospect", "new", "active", "reactivated", "at_risk", "loyal", "churned")

#: Prospects split by whether they have any event (DESIGN §1): these keys are
#: what a framework maps; the other stages map under their own name.
MAPPING_KEYS = ("prospect_aware", "prospect_interested") + STAGES[1:]

LAPSED = "Lapsed"

#: Default mapping of canonical stages onto each framework's own names.
FRAMEWORKS: dict[str, dict[str, str]] = {
    "5-phase journey": {
        "prospect_aware": "Awareness",
        "prospect_interested": "Interest/Consideration",
        "new": "Purchase",
        "active": "Retention",
        "reactivated": "Retention",
        "at_risk": "Retention",
        "loyal": "Loyalty/Advocacy",
        "churned": LAPSED,
    },
    "CLM three levels": {
        "prospect_aware": "Attract & acquire",
        "prospect_interested": "Attract & acquire",
        "new": "Activate & incentivise",
        "active": "Activate & incentivise",
        "reactivated": "Nurture & retain",
        "at_risk": "Nurture & retain",
        "loyal": "Nurture & retain",
        "churned": "Nurture & retain",
    },
    "relationship phases": {
        "prospect_aware": "Initiation",
        "prospect_interested": "Initiation",
        "new": "Active customer",
        "active": "Active customer",
        "reactivated": "Active customer",
        "at_risk": "Active customer",
        "loyal": "Active customer",
        "churned": "Passive customer",
    },
    "RACE": {
        "prospect_aware": "Reach",
        "prospect_interested": "Act",
        "new": "Convert",
        "active": "Engage",
        "reactivated": "Engage",
        "at_risk": "Engage",
        "loyal": "Engage",
        "churned": LAPSED,
    },
    "Attract / Sell / Wow": {
        "prospect_aware": "Attract",
        "prospect_interested": "Attract",
        "new": "Sell",
        "active": "Wow",
        "reactivated": "Wow",
        "at_risk": "Wow",
        "loyal": "Wow",
        "churned": LAPSED,
    },
}


@dataclass(frozen=True)
class LifecycleConfig:
    """Stage thresholds (days, purchase days) and the chosen framework.

    ``mapping`` overrides single entries of the framework's default mapping.
    """

    new_days: int = 90
    at_risk_days: int = 90
    churn_days: int = 180
    loyal_orders: int = 4
    framework: str = "5-phase journey"
    mapping: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("new_days", "at_risk_days", "churn_days", "loyal_orders"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")
        if self.at_risk_days > self.churn_days:
            raise ValueError("at_risk_days must not exceed churn_days")
        if self.framework not in FRAMEWORKS:
            raise ValueError(
                f"unknown framework {self.framework!r}; choose one of {', '.join(FRAMEWORKS)}"
            )
        unknown = set(self.mapping) - set(MAPPING_KEYS)
        if unknown:
            raise ValueError(f"unknown stage(s) in mapping: {', '.join(sorted(unknown))}")

    def stage_labels(self) -> dict[str, str]:
        """Mapping key -> the framework's name for it."""
        return {**FRAMEWORKS[self.framework], **self.mapping}

    def framework_stages(self) -> list[str]:
        """The framework's stage names in lifecycle order, without duplicates."""
        return list(dict.fromkeys(self.stage_labels()[key] for key in MAPPING_KEYS))

    def thresholds(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.type == "int"}

    def with_(self, **changes) -> "LifecycleConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)
