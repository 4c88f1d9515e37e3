"""A running job's progress and live charts, fetched by the browser itself (Train and Inside pages)."""
