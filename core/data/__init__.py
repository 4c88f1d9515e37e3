"""The digits: MNIST and Fashion-MNIST on disk and in memory (mnist), the offline packs,
augmentation, and the store of digits people drew (mydigits)."""

from core.moved import lazy_names

# `from core.data import make_task`, as before
__getattr__ = lazy_names(__name__, "core.data.mnist")
