"""Plain PyTorch state_dict files (.pt/.pth, as tutorials save them) brought in as runs.

A .pt file is a pickle, and unpickling can run any code the file names. So such a file is
only ever read by torch.load(..., weights_only=True), whose unpickler builds tensors,
containers and numbers and refuses every other global before calling it.

How the file's tensors meet the chosen network (whose keys are nn.Sequential's "1.weight", ...):
1. "module." (DataParallel) and "_orig_mod." (torch.compile) prefixes are stripped.
2. A checkpoint dict holding the weights under "model_state_dict" or "state_dict" is unwrapped.
3. Batch-norm "num_batches_tracked" counters are left out on both sides: they only count.
4. If the file's key names are exactly the network's, tensors are matched by name.
5. Otherwise they are matched by order: a state_dict lists tensors in the order the modules
   were defined, which in tutorial models is the order they are used. Every pair must have
   the same shape, or the import is refused naming both keys and both shapes.
Order matching cannot tell apart two same-shaped layers defined out of use order; the test
accuracy computed on import shows such a mix-up at once.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import BinaryIO

import torch
from torch import nn

from core.analysis.evaluation import evaluate_probabilities, predict_proba
from core.data.mnist import Mnist, make_task, to_float
from core.runs.schema import MAX_NAME_CHARS
from core.runs.store import (
    MAX_MEMBER_BYTES,
    InvalidRun,
    Run,
    load_run,
    new_run_id,
    save_run,
    versions,
)
from core.runs.uploads import MAX_UPLOAD_BYTES, RefusedFile, check_members, open_zip, read_upload
from core.spec.compatible import check_compatible
from core.spec.config import TrainConfig
from core.spec.models import ModelSpec, build, parameter_count

STATE_DICT_SUFFIXES = (".pt", ".pth")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
CHECKPOINT_KEYS = ("model_state_dict", "state_dict")
COUNTER_SUFFIX = "num_batches_tracked"
ZIP_MAGIC = b"PK\x03\x04"
# torch.load(weights_only=True) could still run code in PyTorch up to 2.5.1 (CVE-2025-32434)
SAFE_TORCH = "2.6"


def _short(exc: Exception) -> str:
    # torch's messages run to paragraphs and advise weights_only=False: keep the first line only
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _refused_global(message: str) -> str | None:
    # the weights-only unpickler names what it refused: "Unsupported global: GLOBAL eval was not
    # an allowed global" or "unsupported GLOBAL posix.system whose module posix is blocked"
    found = re.search(r"[Uu]nsupported (?:global: )?GLOBAL (\S+)", message)
    return found.group(1)[:120] if found else None


def _check_zip_sizes(data: bytes) -> None:
    # torch.save writes a zip; a deflated member could unpack to far more than the upload
    try:
        with open_zip(data) as archive:
            check_members(archive, {}, total=MAX_MEMBER_BYTES["model.safetensors"])
    except RefusedFile as exc:
        raise InvalidRun(f"the PyTorch file is refused: {exc}") from exc


def load_tensors(source: bytes | str | os.PathLike | BinaryIO) -> dict[str, torch.Tensor]:
    """Return the tensors of a state_dict file, read with weights_only=True and nothing else."""
    if torch.__version__ < SAFE_TORCH:
        raise InvalidRun(
            f"importing .pt files needs PyTorch {SAFE_TORCH} or newer; this is {torch.__version__}"
        )
    try:
        data = read_upload(source, MAX_UPLOAD_BYTES)
    except RefusedFile as exc:
        raise InvalidRun(f"the PyTorch file is refused: {exc}") from exc
    if data[:4] != ZIP_MAGIC:
        # before PyTorch 1.6 a .pt was a bare pickle stream whose storage sizes are trusted
        raise InvalidRun(
            "not a PyTorch file of the current format (a zip, written by torch.save since "
            "PyTorch 1.6); re-save it with torch.save(model.state_dict(), 'model.pt')"
        )
    _check_zip_sizes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notes about the file, not about us
            loaded = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:  # the weights-only unpickler refused something
        refused = _refused_global(str(exc))
        what = f" ({refused})" if refused else ""
        raise InvalidRun(
            f"the file holds Python objects{what}, not only tensors, and loading them could run "
            "code; it was refused without loading them. Save model.state_dict(), not the model"
        ) from exc
    except Exception as exc:  # truncated or corrupt files fail in many torch error types
        raise InvalidRun(f"not a readable PyTorch state_dict ({_short(exc)})") from exc
    return _as_state_dict(loaded)


def _as_state_dict(loaded) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in CHECKPOINT_KEYS:
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise InvalidRun(
            f"the file holds a {type(loaded).__name__}, not a state_dict; "
            "save it with torch.save(model.state_dict(), 'model.pt')"
        )
    for key, value in loaded.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise InvalidRun(
                f"a state_dict maps names to tensors, but {str(key)[:80]!r} holds a "
                f"{type(value).__name__}"
            )
        if value.layout != torch.strided or value.is_complex():
            raise InvalidRun(f"{key[:80]} is not a plain dense real tensor")
    return _strip_prefixes(dict(loaded))


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed and state:  # an empty dict would start with every prefix forever
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
                changed = True
    return state


def _hint(shape: tuple, wanted: tuple) -> str:
    if len(shape) == 2 and shape == wanted[::-1]:
        return " (a from-scratch x @ w matrix is the transpose: save w.T)"
    return ""


def fit_state_dict(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Return the file's tensors under the model's own keys, or raise InvalidRun saying what differs."""
    ours = {k: v for k, v in model.state_dict().items() if not k.endswith(COUNTER_SUFFIX)}
    theirs = {k: v for k, v in state.items() if not k.endswith(COUNTER_SUFFIX)}
    if set(theirs) == set(ours):
        pairs = [(key, theirs[key], key) for key in ours]
    else:
        pairs = [(key, tensor, our) for (key, tensor), our in zip(theirs.items(), ours)]
    for their_key, tensor, our_key in pairs:
        shape, wanted = tuple(tensor.shape), tuple(ours[our_key].shape)
        if shape != wanted:
            raise InvalidRun(
                f"{their_key} has shape {shape}, but the chosen network's {our_key} needs "
                f"{wanted}{_hint(shape, wanted)}"
            )
    if len(theirs) > len(ours):
        raise InvalidRun(
            f"the file holds {len(theirs)} tensors but the chosen network has {len(ours)}; "
            f"the first one too many is {list(theirs)[len(ours)]}"
        )
    if len(theirs) < len(ours):
        raise InvalidRun(
            f"the file holds {len(theirs)} tensors but the chosen network has {len(ours)}; "
            f"nothing in the file fits its {list(ours)[len(theirs)]}"
        )
    return {our_key: tensor for _, tensor, our_key in pairs}


def _test_scores(model: nn.Module, spec: ModelSpec, config: TrainConfig, mnist: Mnist) -> dict:
    task = make_task(mnist, tuple(config.classes))
    probabilities = predict_proba(
        model, to_float(task.test.images), config.normalization, spec.output
    )
    scores = evaluate_probabilities(probabilities, task.test.labels, tuple(config.classes))
    return {"test_accuracy": scores.accuracy, "test_loss": scores.loss, "data_source": mnist.source}


def import_state_dict(
    source: bytes | str | os.PathLike | BinaryIO,
    spec: ModelSpec,
    config: TrainConfig | None = None,
    name: str = "imported",
    runs_dir: str | os.PathLike | None = None,
    mnist: Mnist | None = None,
    file_name: str = "",
) -> Run:
    """Load a state_dict file into the network spec describes, save it as a run and return it.

    With mnist given, the run's test accuracy and loss are measured at once; otherwise None.
    """
    config = config or TrainConfig()
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidRun(f"name: must be text of 1..{MAX_NAME_CHARS} characters")
    try:
        check_compatible(spec.validate(), config.validate())
    except ValueError as exc:
        raise InvalidRun(f"the chosen network and settings do not fit: {exc}") from exc
    model = build(spec)
    fitted = fit_state_dict(load_tensors(source), model)
    try:
        model.load_state_dict(fitted, strict=False)
    except RuntimeError as exc:  # e.g. a tensor whose dtype cannot be copied into float32
        raise InvalidRun(f"the weights cannot be copied into the network ({_short(exc)})") from exc
    model.eval()
    summary = {
        "name": name,
        "status": "imported",
        "imported_from": str(file_name)[:MAX_NAME_CHARS],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "test_accuracy": None,
        "test_loss": None,
        "seconds": None,
        "epochs_completed": 0,
        "steps": 0,
        "device": "cpu",
        "parameters": parameter_count(spec),
        "classes": list(config.classes),
        "versions": versions(),
    }
    if mnist is not None:
        summary.update(_test_scores(model, spec, config, mnist))
    path = save_run(runs_dir, new_run_id(name), spec, config, model, summary, [], [])
    return load_run(path)
