"""Streamlit-side helpers shared by every page: state, sidebar, widgets and plotly figures."""
