"""Saving and loading: one .npz file holds a trained model, with no pickle inside.

The trained model is the whole network with its optimized weights and biases. `mc.save(model,
path)` writes, into one NumPy .npz archive:

    <dotted name>   one array per parameter and buffer (model.state_dict())
    __minicnn__     a JSON text (a 0-d unicode array) with the format marker "minicnn", the
                    format version, the model's class name and its constructor configuration
                    (`model.config`), optional `metadata` (e.g. the normalization used in
                    training), and the plain numbers/strings/lists of a saved dict

`mc.load(path)` reads it with `np.load(..., allow_pickle=False)` (a file cannot run code on
load), rebuilds the model from its class name and configuration, and copies the weights in.

What can be saved:
- a model whose class is in minicnn.models.MODELS and has `.config` (UNet): load returns the model;
- any other Module: its state_dict is saved, and load returns that dict (load it yourself with
  `model.load_state_dict(mc.load(path))`);
- a dict (a state_dict, an optimizer's state_dict, or a checkpoint dict of such dicts): values may
  be arrays, Tensors, numbers, strings, lists of those, or nested dicts; load returns it.

The file is first written to a temporary file in the same folder and then renamed over `path`
(os.replace is atomic), so a crash mid-write never leaves a half-written checkpoint behind.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor

FORMAT = "minicnn"
VERSION = 1
META_KEY = "__minicnn__"
NEST = "/"                 # nested dict keys are joined with "/" (state_dict names use ".")


def _json_value(value):
    """json.dumps' fallback: NumPy scalars (np.float32(0.5), np.int64(3)) become Python ones."""
    if isinstance(value, np.generic) and value.dtype != object:
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a number, string, list or dict")


def _to_json(value, name):
    try:
        return json.loads(json.dumps(value, default=_json_value))
    except (TypeError, ValueError) as error:
        raise TypeError(f"mc.save: cannot store {name}: {error}; values must be arrays, Tensors, "
                        f"numbers, strings, lists or dicts of those") from None


def _flatten(state, prefix, arrays, plain):
    """Split a (nested) dict into arrays (-> npz entries) and plain JSON values."""
    for key, value in state.items():
        if not isinstance(key, str) or NEST in key or key == META_KEY:
            raise ValueError(f"mc.save: dict keys must be strings without '{NEST}' (and not "
                             f"'{META_KEY}'), got {key!r}")
        name = prefix + key
        if isinstance(value, dict):
            plain[name] = {}                      # marks a (possibly empty) nested dict
            _flatten(value, name + NEST, arrays, plain)
        elif isinstance(value, Tensor) or backend.is_cupy_array(value) or \
                isinstance(value, np.ndarray):
            array = backend.to_numpy(value.data if isinstance(value, Tensor) else value)
            if array.dtype == object:
                raise TypeError(f"mc.save: {name} is an object array, which needs pickle; "
                                f"store numbers, strings or numeric arrays")
            arrays[name] = np.asarray(array)
        elif value is None or isinstance(value, (bool, int, float, str, list, tuple, np.generic)):
            plain[name] = _to_json(value, name)               # lists may hold dicts of numbers
        else:
            raise TypeError(f"mc.save: cannot store {name} of type {type(value).__name__}; "
                            f"values must be arrays, Tensors, numbers, strings or dicts")


def _flat_names(state, prefix=""):
    """Every flat name _flatten makes, in the dict's own order (nested dict names too)."""
    for key, value in state.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _flat_names(value, prefix + key + NEST)


def _unflatten(arrays, plain, order):
    """The nested dict back from flat names, in the order they were saved."""
    result = {}
    for name in order:
        *parents, leaf = name.split(NEST)
        node = result
        for parent in parents:
            node = node.setdefault(parent, {})
        value = arrays[name] if name in arrays else plain[name]
        node[leaf] = node.get(leaf, {}) if isinstance(value, dict) else value
    return result


def save(obj, path, metadata=None):
    """Write a model (or a dict of arrays/numbers) to `path` (.npz), atomically.

    metadata: an optional dict of plain values (numbers, strings, lists, dicts) kept with a
    model, e.g. the normalization used in training; mc.load gives it back as `model.metadata`."""
    from minicnn.models import MODELS
    from minicnn.nn.module import Module

    meta = {"format": FORMAT, "version": VERSION}
    if isinstance(obj, Module):
        name = type(obj).__name__
        rebuildable = MODELS.get(name) is type(obj) and isinstance(getattr(obj, "config", None),
                                                                    dict)
        meta.update(kind="model" if rebuildable else "state", model_class=name,
                    config=obj.config if rebuildable else None)
        state = obj.state_dict()
    elif isinstance(obj, dict):
        meta.update(kind="state")
        state = obj
    else:
        raise TypeError(f"mc.save saves a Module or a dict (e.g. a state_dict), got "
                        f"{type(obj).__name__}")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"mc.save: metadata must be a dict, got {type(metadata).__name__}")
        meta["metadata"] = _to_json(metadata, "metadata")
    arrays, plain = {}, {}
    _flatten(state, "", arrays, plain)
    meta["plain"] = plain
    meta["order"] = list(_flat_names(state))
    payload = dict(arrays)
    payload[META_KEY] = np.array(json.dumps(meta))             # 0-d unicode array: no pickle

    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"mc.save writes NumPy .npz archives; give a path ending in .npz, got "
                         f"{path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"mc.save: the folder {folder} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)           # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)                                  # atomic: old file or new file
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load(path):
    """Read a file written by mc.save. Returns the rebuilt model (in training mode, like a new
    model: call .eval() before predicting; `model.metadata` holds the saved metadata, {} if
    none) or, if a dict was saved, that dict."""
    from minicnn.models import MODELS

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"mc.load: no file at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files"):                   # a bare .npy array, not an archive
            raise _Foreign(f"mc.load: {path} is not a minicnn file: it is a single .npy array, "
                           f"not the .npz archive that mc.save writes; read it with np.load")
        with archive:
            if META_KEY not in archive.files:
                raise _Foreign(f"mc.load: {path} is not a minicnn file: it is a .npz with arrays "
                               f"{sorted(archive.files)[:5]} but without the '{META_KEY}' record "
                               f"that mc.save writes; read it with np.load, or save models with "
                               f"mc.save")
            meta = json.loads(str(archive[META_KEY]))
            arrays = {name: archive[name] for name in archive.files if name != META_KEY}
    except _Foreign as error:
        raise ValueError(str(error)) from None
    except PermissionError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) \
            as error:
        raise ValueError(f"mc.load: {path} is not a valid minicnn file (it is truncated, "
                         f"corrupted or not an .npz archive): {type(error).__name__}: {error}") \
            from None
    marker = meta.get("format") if isinstance(meta, dict) else None
    if marker != FORMAT:
        raise ValueError(f"mc.load: {path} is not a minicnn file (format marker {marker!r}, "
                         f"expected {FORMAT!r})")
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"mc.load: {path} uses file format version {meta['version']}, newer "
                         f"than this minicnn understands ({VERSION}); upgrade minicnn")

    plain = meta.get("plain", {})
    order = [name for name in meta.get("order", []) if name in arrays or name in plain]
    state = _unflatten(arrays, plain, order)
    if meta.get("kind") != "model":
        return state
    cls = MODELS.get(meta["model_class"])
    if cls is None:
        raise ValueError(f"mc.load: {path} holds a {meta['model_class']}, which minicnn cannot "
                         f"rebuild (known models: {', '.join(sorted(MODELS))})")
    model = cls(**meta["config"])
    model.load_state_dict(state)
    model.metadata = meta.get("metadata") or {}
    return model


class _Foreign(Exception):
    """A readable .npz/.npy that mc.save did not write."""
