"""Streamlit helpers shared by app.py and the pages: state, cached data, widgets. No metric logic."""
