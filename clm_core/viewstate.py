"""A view's whole state (page, dataset, as-of date, language, segment filter, page
parameters) and its round trip through URL query parameters.

Keys: ``page``, ``ds``, ``asof``, ``lang``, the segment filter's own keys (see
:mod:`clm_core.filters`), and ``p.<name>`` once per value of a page parameter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from clm_core.filters import SegmentFilter

LANGUAGES = ("en", "de")
PAGE_PREFIX = "p."


@dataclass(frozen=True)
class ViewState:
    page: str = "overview"
    dataset: str | None = None
    as_of: str | None = None
    lang: str = "en"
    segment: SegmentFilter = field(default_factory=SegmentFilter)
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lang not in LANGUAGES:
            object.__setattr__(self, "lang", "en")
        if self.as_of is not None:
            try:
                dt.date.fromisoformat(self.as_of)
            except ValueError:
                object.__setattr__(self, "as_of", None)
        object.__setattr__(self, "params", {k: tuple(v) for k, v in self.params.items()})

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default

    def param_list(self, name: str, default=()) -> tuple[str, ...]:
        return self.params.get(name, tuple(default))

    def with_param(self, name: str, value) -> "ViewState":
        """A copy with page parameter ``name`` set (a list/tuple for several values; None removes it)."""
        params = dict(self.params)
        if value is None or value == [] or value == ():
            params.pop(name, None)
        else:
            params[name] = tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else (str(value),)
        return replace(self, params=params)

    def with_(self, **changes) -> "ViewState":
        return replace(self, **changes)

    def to_query_params(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"page": [self.page], "lang": [self.lang]}
        if self.dataset:
            out["ds"] = [self.dataset]
        if self.as_of:
            out["asof"] = [self.as_of]
        out.update(self.segment.to_query_params())
        for name, values in sorted(self.params.items()):
            out[PAGE_PREFIX + name] = list(values)
        return out

    @classmethod
    def from_query_params(cls, params: Mapping) -> "ViewState":
        """From key -> value or list of values; unknown or malformed values fall back to defaults."""

        def first(key, default=None):
            value = params.get(key)
            if value is None:
                return default
            return value if isinstance(value, str) else (list(value)[0] if list(value) else default)

        try:
            segment = SegmentFilter.from_query_params(params)
        except ValueError:
            segment = SegmentFilter()
        page_params = {
            key[len(PAGE_PREFIX):]: tuple([v] if isinstance(v, str) else v)
            for key, v in params.items() if key.startswith(PAGE_PREFIX)
        }
        return cls(
            page=first("page", "overview"),
            dataset=first("ds"),
            as_of=first("asof"),
            lang=first("lang", "en"),
            segment=segment,
            params=page_params,
        )
