"""Overview: the lifecycle stage distribution of the chosen dataset."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from clm_core import store
from clm_core.metrics import stages

con = st.session_state["con"]
datasets = store.list_datasets(con)
st.title("Customer lifecycle")
if not datasets:
    st.info("No dataset yet. Run `make run` to load the demo data, or upload your exports.")
    st.stop()
dataset = datasets[0]
distribution = stages.stage_distribution(dataset)
st.caption(f"Dataset: {dataset.name}")
st.plotly_chart(px.bar(distribution, x="stage", y="customers"), use_container_width=True)
st.dataframe(distribution, hide_index=True)
