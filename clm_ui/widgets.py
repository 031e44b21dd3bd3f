"""Drawing helpers: charts in the view's language, tables with a CSV download."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from clm_core.i18n import plotly_separators
from clm_ui.state import t, view

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}


def chart(fig, key: str | None = None, **kwargs):
    """A Plotly chart with the language's number separators; Plotly's PNG export stays on."""
    fig.update_layout(separators=plotly_separators(view().lang))
    if fig.layout.margin.t is None:  # keep a margin the page chose
        fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    return st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, key=key, **kwargs)


def table(frame: pd.DataFrame, filename: str, key: str | None = None, **kwargs):
    """A table and its CSV download button."""
    shown = st.dataframe(frame, hide_index=True, width="stretch", key=key, **kwargs)
    download(frame, filename, key=f"dl.{key or filename}")
    return shown


def download(frame: pd.DataFrame, filename: str, key: str | None = None) -> None:
    st.download_button(t("download_csv"), frame.to_csv(index=False).encode("utf-8"), file_name=filename,
                       mime="text/csv", key=key or f"dl.{filename}")
