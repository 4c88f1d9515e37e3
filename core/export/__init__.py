"""A run taken out of the app: the equivalent standalone PyTorch training script (script)."""

from core.moved import lazy_names

__getattr__ = lazy_names(__name__, "core.export.script")  # `core.export`'s names, as before
