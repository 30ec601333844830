"""Saving and loading: one .npz file holds a trained model, with no pickle inside.

The trained model is the whole network with its optimized weights and biases. `mc.save(model,
path)` writes, into one NumPy .npz archive:

    <dotted name>   one array per parameter and buffer (model.state_dict())
    __minicnn__     a JSON text (a 0-d unicode array) with the format marker "minicnn", the
                    format version, the model's class name and its constructor configuration
                    (`model.config`), optional `metadata` (e.g. the normalization used in
                    training), and the plain numbers/strings/lists of a saved dict

`mc.load(path)` does not trust the file. It reads the zip directory and each array's .npy
header first (zipfile and numpy.lib.format, no data inflated), checks them against the record and
the network it declares, and bounds their total size; only then does it inflate the data, chunk by
chunk, into arrays of the declared sizes. It never unpickles (a file cannot run code on load), it
refuses non-finite weights and metadata that prediction could not use (see `load`). Then it
rebuilds the model from its class name and configuration and copies the weights in. `mc.save`
refuses to write a model with non-finite weights or such metadata in the first place.

What can be saved:
- a model whose class is in minicnn.models.MODELS and has `.config` (UNet): load returns the model;
- any other Module: its state_dict is saved, and load returns that dict (load it yourself with
  `model.load_state_dict(mc.load(path))`);
- a dict (a state_dict, an optimizer's state_dict, or a checkpoint dict of such dicts): values may
  be arrays, Tensors, numbers, strings, lists of those, or nested dicts; load returns it.

The file is first written to a temporary file in the same folder and then renamed over `path`
(os.replace is atomic), so a crash mid-write never leaves a half-written checkpoint behind.
"""
import dataclasses
import inspect
import json
import math
import os
import tempfile
import zipfile
import zlib

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
    non_finite = _non_finite(arrays) if isinstance(obj, Module) else None
    if non_finite:                                               # never save a diverged model
        raise ValueError(f"mc.save: the {type(obj).__name__}'s {non_finite}; a model with "
                         f"non-finite weights is never saved (it would predict garbage). Nothing "
                         f"was written; keep the last good model")
    problems = _metadata_problems(meta.get("metadata"), meta["config"]) \
        if meta["kind"] == "model" else []
    if problems:
        raise ValueError(f"mc.save: nothing was written: the metadata is not one a model can be "
                         f"used with: {'; '.join(problems)}")
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


def load(path, max_bytes=None):
    """Read a file written by mc.save. Returns the rebuilt model (in training mode, like a new
    model: call .eval() before predicting; `model.metadata` holds the saved metadata, {} if
    none) or, if a dict was saved, that dict.

    A model file is checked before it is trusted (a bad one raises ModelFileError, a ValueError,
    saying what was expected, what the file holds, and what to do):
    1. only the archive's directory and each array's .npy header are read at first (no data is
       inflated): every member must be a plain array (no pickled objects), hold exactly the bytes
       its header declares, and all of them together at most `max_bytes` (MAX_BYTES, 1 GiB);
    2. the record must be well formed; for a model: the class must be known, its configuration
       valid, the metadata sane (threshold in [0, 1], normalization percentiles 0 <= low < high
       <= 100, classes matching the outputs), and the members exactly the network's parameters
       and buffers, with their shapes and a real floating-point (or integer, for counters) dtype;
    3. only then is the data read, in bounded chunks, and a model's weights must be finite."""
    from minicnn.models import MODELS

    path = os.fspath(path)
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    if not os.path.exists(path):
        raise FileNotFoundError(f"mc.load: no file at {path}")
    try:
        with open(path, "rb") as f:
            if f.read(len(NPY_MAGIC)) == NPY_MAGIC:
                raise _Refused(f"{path} is not a minicnn file: it is a single .npy array, not "
                               f"the .npz archive that mc.save writes; read it with np.load")
        with zipfile.ZipFile(path) as archive:
            headers = _read_headers(archive, path, max_bytes)            # nothing inflated yet
            meta = _read_record(archive, headers, path)
            model = None
            if meta["kind"] == "model":
                model = _build_declared_model(meta, headers, path, MODELS)
            else:
                _check_state_members(meta, headers, path)
            arrays = {name: _read_array(archive, header, path)
                      for name, header in headers.items() if name != META_KEY}
    except _Refused as error:
        raise ModelFileError(f"mc.load: {error}") from None
    except PermissionError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
            json.JSONDecodeError, RuntimeError, UnicodeDecodeError) as error:
        raise ModelFileError(f"mc.load: {path} is not a valid minicnn file (it is truncated, "
                             f"corrupted or not an .npz archive): {type(error).__name__}: "
                             f"{error}") from None

    if model is None:
        return _unflatten(arrays, meta["plain"], meta["order"])
    non_finite = _non_finite(arrays)
    if non_finite:
        raise ModelFileError(f"mc.load: {path}: {non_finite}; a model with non-finite weights "
                             f"predicts garbage (this one probably diverged in training). Use an "
                             f"earlier model or checkpoint, or train again with a lower learning "
                             f"rate")
    model.load_state_dict(arrays)                 # names and shapes were checked above
    model.metadata = meta.get("metadata") or {}
    return model


class ModelFileError(ValueError):
    """A file that mc.load refuses: damaged, crafted, or from another program."""


class _Refused(Exception):
    """A reason to refuse a file, with the whole explanation; load prefixes 'mc.load: '."""


# ---- reading a file without trusting it ----
NPY_MAGIC = b"\x93NUMPY"        # the first bytes of every .npy array (and of each npz member)
MAX_BYTES = 2 ** 30             # all arrays of one file; a U-Net(base 64, depth 5) is 110 MiB,
                                # its checkpoint with Adam's two moments 330 MiB
MAX_RECORD_BYTES = 2 ** 26      # the JSON record (a checkpoint's history: ~100 bytes a row)
MAX_MEMBERS = 10_000            # arrays in one file (a U-Net checkpoint has about 3 x 50)
CHUNK_BYTES = 2 ** 20           # data are inflated 1 MiB at a time, into the final array
NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}
RECORD_KEYS = {"format", "version", "kind", "model_class", "config", "metadata", "plain",
               "order"}


@dataclasses.dataclass
class _Header:
    """What a member's .npy header declares, read without inflating its data."""
    info: zipfile.ZipInfo
    shape: tuple
    fortran_order: bool
    dtype: np.dtype
    data_offset: int           # bytes of magic + header before the data
    nbytes: int                # prod(shape) * itemsize: the data that must follow

    def describe(self):
        return f"shape {self.shape} {self.dtype}"


def _read_headers(archive, path, max_bytes):
    """name -> _Header for every member; refuses non-arrays, pickles and oversized files."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _Refused(f"{path} holds {len(infos)} members, more than the {MAX_MEMBERS} a minicnn "
                       f"file can have; it is not a file written by mc.save")
    headers = {}
    for info in infos:
        name = info.filename[:-len(".npy")]
        if not info.filename.endswith(".npy") or info.is_dir():
            raise _Refused(f"{path} holds a member {info.filename!r} that is not a NumPy array "
                           f"(.npy); mc.save writes only arrays. The file was edited or not "
                           f"written by mc.save: save the model again with mc.save")
        if name in headers:
            raise _Refused(f"{path} holds the member {info.filename!r} twice; the file was edited "
                           f"or damaged: save the model again with mc.save")
        with archive.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version not in NPY_HEADER_READERS:
                raise _Refused(f"{path}: member {name!r} is a .npy of format version {version}; "
                               f"mc.save writes versions 1.0 and 2.0 only")
            shape, fortran_order, dtype = NPY_HEADER_READERS[version](f)
            offset = f.tell()
        if dtype.hasobject:
            raise _Refused(f"{path}: member {name!r} holds Python objects ({dtype}), which only "
                           f"pickle can read, and mc.load never unpickles (a pickle can run any "
                           f"code); a minicnn file holds numeric arrays only. Do not use this "
                           f"file unless you trust who made it")
        nbytes = math.prod(shape) * dtype.itemsize
        if info.file_size != offset + nbytes:
            raise _Refused(f"{path}: member {name!r} declares {shape} {dtype} ({nbytes} bytes of "
                           f"data) but holds {info.file_size - offset} bytes; the file is damaged "
                           f"or crafted: save the model again with mc.save")
        headers[name] = _Header(info, tuple(shape), fortran_order, dtype, offset, nbytes)
    total = sum(header.nbytes for header in headers.values())
    if total > max_bytes:
        biggest = max(headers, key=lambda name: headers[name].nbytes)
        raise _Refused(f"{path} declares {_size(total)} of arrays (the largest, {biggest!r}: "
                       f"{headers[biggest].describe()}, {_size(headers[biggest].nbytes)}), more "
                       f"than the {_size(max_bytes)} that mc.load reads; a minicnn model or "
                       f"checkpoint is far smaller (a U-Net with 64 base channels and depth 5 "
                       f"holds 110 MiB), so the file is damaged or crafted. Nothing was read. If "
                       f"it is yours and really that big, pass mc.load(path, max_bytes=...)")
    return headers


def _read_array(archive, header, path):
    """The member's data, inflated chunk by chunk straight into an array of the declared shape:
    never more than the header declared, whatever the compressed stream holds."""
    flat = np.empty(math.prod(header.shape), header.dtype)              # (count,)
    raw = flat.view(np.uint8)                                            # (nbytes,) same memory
    with archive.open(header.info) as f:
        f.read(header.data_offset)                                       # magic + header
        done = 0
        while done < header.nbytes:
            chunk = f.read(min(CHUNK_BYTES, header.nbytes - done))
            if not chunk:
                raise EOFError(f"member {header.info.filename!r} ends after {done} of "
                               f"{header.nbytes} bytes")
            raw[done:done + len(chunk)] = np.frombuffer(chunk, np.uint8)
            done += len(chunk)
        if f.read(1):
            raise _Refused(f"{path}: member {header.info.filename!r} holds more data than its "
                           f"header declares ({header.describe()}); the file is damaged or "
                           f"crafted: save the model again with mc.save")
    if header.fortran_order:                              # column-major: reverse, then transpose
        return flat.reshape(header.shape[::-1]).transpose()
    return flat.reshape(header.shape)


def _read_record(archive, headers, path):
    """The JSON record, checked: format, version, kind and the fields each kind needs."""
    header = headers.get(META_KEY)
    if header is None:
        arrays = sorted(headers)[:5]
        raise _Refused(f"{path} is not a minicnn file: it is a .npz with arrays {arrays} but "
                       f"without the '{META_KEY}' record that mc.save writes; read it with "
                       f"np.load, or save models with mc.save")
    if header.dtype.kind != "U" or header.shape != () or header.nbytes > MAX_RECORD_BYTES:
        raise _Refused(f"{path}: the '{META_KEY}' record should be one text of at most "
                       f"{_size(MAX_RECORD_BYTES)}, but it is {header.describe()}; the file "
                       f"was edited or damaged: save the model again with mc.save")
    meta = json.loads(str(_read_array(archive, header, path)))
    marker = meta.get("format") if isinstance(meta, dict) else None
    if marker != FORMAT:
        raise _Refused(f"{path} is not a minicnn file (format marker {marker!r}, expected "
                       f"{FORMAT!r})")
    version = meta.get("version")
    if not _is_int(version) or version < 1:
        raise _Refused(f"{path}: the format version is {version!r}, expected a whole number "
                       f"from 1 to {VERSION}; the file was edited or damaged")
    if version > VERSION:
        raise _Refused(f"{path} uses file format version {version}, newer than this minicnn "
                       f"understands ({VERSION}); upgrade minicnn")
    unknown = sorted(set(meta) - RECORD_KEYS)
    kind = meta.get("kind")
    plain, order = meta.get("plain", {}), meta.get("order", [])
    problems = []
    if unknown:
        problems.append(f"unknown fields {unknown} (expected some of {sorted(RECORD_KEYS)})")
    if kind not in ("model", "state"):
        problems.append(f"kind {kind!r} (expected 'model' or 'state')")
    if not isinstance(plain, dict):
        problems.append(f"'plain' is a {type(plain).__name__} (expected a dict)")
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        problems.append("'order' is not a list of names")
    if problems:
        raise _Refused(f"{path}: the '{META_KEY}' record is not one that mc.save writes: "
                       f"{'; '.join(problems)}. The file was edited or damaged: save it again "
                       f"with mc.save")
    meta["plain"], meta["order"] = plain, order
    return meta


def _check_state_members(meta, headers, path):
    """A saved dict: every array member is listed in the record's order, every listed name is
    there (as an array or a plain value)."""
    listed = set(meta["order"])
    arrays = set(headers) - {META_KEY}
    unknown = sorted(arrays - listed)
    missing = sorted(listed - arrays - set(meta["plain"]))
    if unknown or missing:
        raise _Refused(f"{path}: the arrays do not match the record that mc.save wrote with them"
                       f"{': unknown members ' + str(unknown[:5]) if unknown else ''}"
                       f"{': missing ' + str(missing[:5]) if missing else ''}; the file was "
                       f"edited or damaged: save it again with mc.save")


def _build_declared_model(meta, headers, path, models):
    """The model the record declares, built only once its configuration, metadata and the
    members' headers all agree with it (so a crafted file cannot make us build a huge network
    or load garbage into a real one)."""
    name, config = meta.get("model_class"), meta.get("config")
    cls = models.get(name) if isinstance(name, str) else None
    if cls is None:
        raise _Refused(f"{path} holds a {name}, which minicnn cannot rebuild (known models: "
                       f"{', '.join(sorted(models))})")
    if not isinstance(config, dict):
        raise _Refused(f"{path}: the {name} configuration is {config!r}, expected a dict of "
                       f"its constructor's arguments; the file was edited or damaged")
    accepted = set(inspect.signature(cls).parameters)
    if set(config) - accepted:
        raise _Refused(f"{path}: the {name} configuration has unknown settings "
                       f"{sorted(set(config) - accepted)}; {name} accepts {sorted(accepted)}")
    problems = _metadata_problems(meta.get("metadata"), config)
    if problems:
        raise _Refused(f"{path}: the model's metadata is not sane:\n  " + "\n  ".join(problems)
                       + ".\nThe file was edited or damaged: use the model.npz that `minicnn "
                       "train` wrote, or save the model again with valid metadata")
    weights = sum(h.nbytes for key, h in headers.items() if key != META_KEY)
    if name == "UNet":
        smallest = _unet_weight_bytes_at_least(config)
        if smallest > weights:
            raise _Refused(f"{path}: the configuration {config} declares a U-Net of at least "
                           f"{_size(smallest)} of float32 weights, but the file holds "
                           f"{_size(weights)} of arrays; the file was edited or damaged")
    try:
        model = cls(**config)
    except (TypeError, ValueError) as error:
        raise _Refused(f"{path}: the configuration stored in the file is not a valid {name}: "
                       f"{error}") from None
    own = model._state_tensors()
    problems = []
    unknown = [key for key in headers if key != META_KEY and key not in own]
    missing = [key for key in own if key not in headers]
    if unknown:
        problems.append(f"unknown members (not in the network): {', '.join(unknown[:5])}")
    if missing:
        problems.append(f"missing members: {', '.join(missing[:5])}")
    for key, t in own.items():
        header = headers.get(key)
        if header is None:
            continue
        if header.shape != t.shape:
            problems.append(f"{key}: the network needs shape {t.shape}, the file stores "
                            f"{header.shape}")
        elif header.dtype.kind == "c":
            problems.append(f"{key} is complex ({header.dtype}): weights are real numbers, and "
                            f"casting would silently drop the imaginary part")
        elif header.dtype.kind != t.dtype.kind or header.dtype.kind not in "fiu":
            problems.append(f"{key} is {header.dtype}, expected {t.dtype} (a "
                            f"{'floating-point' if t.dtype.kind == 'f' else 'integer'} array)")
    if problems:
        raise _Refused(f"{path} does not hold the {name}({_config_text(config)}) its record "
                       f"declares:\n  " + "\n  ".join(problems[:8]) + "\nThe file was edited "
                       f"or damaged, or mixes two models: use the model.npz that `minicnn "
                       f"train` (or mc.save) wrote")
    return model


def _metadata_problems(metadata, config):
    """What is wrong with the fields prediction trusts: threshold, normalization, classes,
    channel_axis, training (a list of sentences; empty when all is well). Other keys a user stored
    with mc.save(..., metadata=) are theirs and pass untouched."""
    from minicnn.data.normalize import DEFAULT_NORMALIZATION, normalization_settings

    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [f"the metadata is a {type(metadata).__name__}, expected a dict"]
    problems = []
    threshold = metadata.get("threshold", 0.5)
    if not _is_number(threshold) or not 0.0 <= threshold <= 1.0:
        problems.append(f"threshold is {threshold!r}, expected a probability in [0, 1] (a pixel "
                        f"is foreground where the network's probability exceeds it; 0.5 usually)")
    normalization = metadata.get("normalization", DEFAULT_NORMALIZATION)
    if not isinstance(normalization, dict) or normalization.get("method") != "percentile" or \
            set(normalization) - set(DEFAULT_NORMALIZATION):
        problems.append(f"normalization is {normalization!r}, expected a dict like "
                        f"{DEFAULT_NORMALIZATION}")
    else:
        low, high = normalization.get("low", 1.0), normalization.get("high", 99.8)
        clip = normalization.get("clip", False)
        if not (_is_number(low) and _is_number(high) and isinstance(clip, bool)):
            problems.append(f"normalization is {normalization!r}: low and high must be numbers "
                            f"and clip true or false")
        else:
            try:
                normalization_settings(low, high, clip)
            except ValueError as error:
                problems.append(f"normalization: {error}")
    classes = metadata.get("classes", 0)
    outputs = config.get("out_channels", 1)
    if not _is_int(classes) or classes < 0 or (classes or 1) != outputs:
        problems.append(f"classes is {classes!r}, but the network has {outputs} output "
                        f"channel(s): expected {outputs if outputs > 1 else 0} (0 means one "
                        f"foreground/background channel)")
    channel_axis = metadata.get("channel_axis")
    if channel_axis is not None and (not _is_int(channel_axis) or abs(channel_axis) > 32):
        problems.append(f"channel_axis is {channel_axis!r}, expected None or an axis number")
    if not isinstance(metadata.get("training", {}), dict):
        problems.append(f"training is {metadata['training']!r}, expected a dict of settings")
    return problems


def _non_finite(arrays):
    """'name holds k NaN or infinite value(s) of n' for the first such float array, else None.
    A model's weights must be finite: one NaN spreads to every pixel of every prediction."""
    for name, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            return f"{name} holds {bad} NaN or infinite value(s) of {array.size}"
    return None


def _unet_weight_bytes_at_least(config):
    """A lower bound on a U-Net's float32 weights from its configuration alone (before building
    it): the widest level's 3x3 convolution holds c * c * 9 weights, c = base * 2**(depth - 1);
    the first one base * in * 9, the head out * base."""
    base, depth = config.get("base_channels", 16), config.get("depth", 3)
    inputs, outputs = config.get("in_channels", 1), config.get("out_channels", 1)
    if not all(_is_int(v) and v >= 1 for v in (base, depth, inputs, outputs)):
        return 0                                # the constructor explains what is wrong
    widest = base * 2.0 ** min(depth - 1, 1000)
    return 4 * max(9 * widest * widest, 9 * base * inputs, base * outputs)


def _config_text(config):
    return ", ".join(f"{key}={value!r}" for key, value in config.items())


def _size(nbytes):
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)
