"""The run store: every run a folder (store), its metrics.json (metrics_file), what its files
may hold (schema, rules, replay_schema), archives and uploads, tutorial state dicts brought in,
and folders written whole or not at all."""

from core.moved import lazy_names

# `from core.runs import list_runs`, as before the store was split
__getattr__ = lazy_names(
    __name__, "core.runs.store", "core.runs.listing", "core.runs.archive", "core.runs.metrics_file"
)
