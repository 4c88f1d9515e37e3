"""Plotly figures, one function per chart; the live charts; the palette every picture uses."""
