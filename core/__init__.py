"""Digit Lab's engine: MNIST data, networks, training, evaluation and runs, with no Streamlit import.

Packages, one idea each:
  spec/      what a network and its training are (specs, presets, settings, limits, estimates)
  data/      the digits (MNIST, Fashion-MNIST, offline packs, augmentation, your digits' store)
  train/     training (the trainer, callbacks, engines, steering, jobs, workers, Ray, races)
  runs/      the run store (folders, archives, the schema, state-dict import, atomic writes)
  analysis/  what a trained network does (evaluation, probes, inside views, backprop)
  draw/      canvas drawings (preprocessing, the drawing sets, the quick-train, following)
  export/    a run taken elsewhere (the equivalent PyTorch script)
  bench/     every benchmark (python -m core bench …)
"""

from core.moved import CORE_MOVES, keep_old_names

__version__ = "0.1.0"

keep_old_names(CORE_MOVES)  # `import core.models` and the other names before the regroup
