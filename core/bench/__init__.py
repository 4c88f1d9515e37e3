"""Every benchmark behind `python -m core bench`: the trainer against the tutorial pipeline
(pipeline), watching in the app (app), page views (pages), drawings (drawing), executors
(executors) and a run's overhead beyond its steps (overhead)."""

from core.moved import lazy_names

__getattr__ = lazy_names(__name__, "core.bench.pipeline")  # `core.bench`'s names, as before
