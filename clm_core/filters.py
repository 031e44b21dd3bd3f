"""Segment filter over customer attributes, stage and cohort; round-trips through URL query parameters.

Query parameters: ``f.<attribute>`` once per allowed value, ``stage`` once per
stage, ``cohort_from`` / ``cohort_to`` as YYYY-MM (months of the first purchase),
``list`` the id of a stored customer list (a drill-down applied as a filter).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import ibis

from clm_core.config import STAGES

ATTRIBUTE_PREFIX = "f."
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class SegmentFilter:
    """Customers whose attributes take one of the given values, in the given stages and cohort range."""

    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    stages: tuple[str, ...] = ()
    cohort_from: str | None = None
    cohort_to: str | None = None
    customer_list: str | None = None  # id of a stored list of customers (store.save_customer_list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", {k: tuple(v) for k, v in self.attributes.items() if v})
        object.__setattr__(self, "stages", tuple(self.stages))
        bad = set(self.stages) - set(STAGES)
        if bad:
            raise ValueError(f"unknown stage(s): {', '.join(sorted(bad))}")
        for bound in (self.cohort_from, self.cohort_to):
            if bound is not None and not _MONTH.match(bound):
                raise ValueError(f"cohort bounds are months YYYY-MM, got {bound!r}")

    def is_empty(self) -> bool:
        return not (self.attributes or self.stages or self.cohort_from or self.cohort_to or self.customer_list)

    @property
    def date_dependent(self) -> bool:
        """Whether the customers kept depend on the as-of date (stage and cohort filters do)."""
        return bool(self.stages or self.cohort_from or self.cohort_to)

    def with_customer_list(self, list_id: str | None) -> "SegmentFilter":
        """This filter narrowed to a stored customer list (a drill-down applied as a filter)."""
        return SegmentFilter(self.attributes, self.stages, self.cohort_from, self.cohort_to, list_id)

    # ------------------------------------------------------------------ query
    def customers(self, dataset, as_of: dt.date, config=None):
        """Ibis table of the customer_id values that pass the filter."""
        index = dataset.require("customer_index")
        for name, values in self.attributes.items():
            if name not in index.columns:
                raise ValueError(f"unknown customer attribute {name!r}; known: {', '.join(index.columns)}")
            index = index.filter(index[name].cast("string").isin(list(values)))
        ids = index.select("customer_id")
        if self.customer_list:
            from clm_core.store import customer_list

            listed = customer_list(dataset.home.con, self.customer_list, workspace=dataset.workspace)
            if dataset.home is not dataset:  # lists live in the DuckDB file; the data on another engine
                listed = ibis.memtable(listed.execute(), schema={"customer_id": "string"})
            ids = ids.semi_join(listed, ids.customer_id == listed.customer_id)
        if self.stages:
            from clm_core.metrics.stages import customer_stages

            stages = customer_stages(dataset, as_of, config)
            stages = stages.filter(stages.stage.isin(list(self.stages)))
            ids = ids.semi_join(stages, ids.customer_id == stages.customer_id)
        if self.cohort_from or self.cohort_to:
            from clm_core.metrics.common import purchase_days

            days = purchase_days(dataset, as_of)
            first = days.group_by("customer_id").aggregate(month=days.day.min().truncate("M"))
            if self.cohort_from:
                first = first.filter(first.month >= ibis.date(self.cohort_from + "-01"))
            if self.cohort_to:
                first = first.filter(first.month <= ibis.date(self.cohort_to + "-01"))
            ids = ids.semi_join(first, ids.customer_id == first.customer_id)
        return ids

    # ------------------------------------------------------------------ URL
    def to_query_params(self) -> dict[str, list[str]]:
        params: dict[str, list[str]] = {
            ATTRIBUTE_PREFIX + name: list(values) for name, values in sorted(self.attributes.items())
        }
        if self.stages:
            params["stage"] = list(self.stages)
        if self.cohort_from:
            params["cohort_from"] = [self.cohort_from]
        if self.cohort_to:
            params["cohort_to"] = [self.cohort_to]
        if self.customer_list:
            params["list"] = [self.customer_list]
        return params

    @classmethod
    def from_query_params(cls, params: Mapping) -> "SegmentFilter":
        """From a mapping of key -> value or list of values (e.g. ``st.query_params.to_dict()``
        loses repeats, so pass ``{k: st.query_params.get_all(k) for k in st.query_params}``)."""

        def values(key):
            value = params[key]
            return [value] if isinstance(value, str) else list(value)

        attributes = {
            key[len(ATTRIBUTE_PREFIX):]: tuple(values(key)) for key in params if key.startswith(ATTRIBUTE_PREFIX)
        }
        stages = tuple(values("stage")) if "stage" in params else ()
        cohort_from = values("cohort_from")[0] if "cohort_from" in params else None
        cohort_to = values("cohort_to")[0] if "cohort_to" in params else None
        customer_list = values("list")[0] if "list" in params else None
        return cls(attributes, stages, cohort_from or None, cohort_to or None, customer_list or None)
