"""A run taken out of the app: the equivalent standalone PyTorch training script (script), its
network and loss (network), and its data, transforms and loader (data)."""

from core.moved import lazy_names

# `core.export`'s names, as before: the old module's, now in these three
__getattr__ = lazy_names(__name__, "core.export.script", "core.export.network", "core.export.data")
