"""Customer-lifecycle analytics core: ingest, metrics, models; no Streamlit."""

__version__ = "0.1.0"
