"""Whole datasets -> numpy arrays, in memory or as memory-mapped ``.npy`` files.

The naive recipe (append every batch to a list, then ``np.concatenate``)
holds the data twice and dies on large sets. `to_numpy` preallocates the
result once, or with ``path`` streams it batch by batch into ``.npy`` files
and returns them memory-mapped, so its own memory stays at a few batches
whatever the dataset size::

    x, y = to_numpy(it)                       # in memory, allocated once
    x, y = to_numpy(it, "arrays/train")       # arrays/train/x.npy, y.npy (mmap)
    x, y = to_numpy(it, per_class=100, seed=0)  # stratified subset
    weights = class_weight(it)                # for model.fit(class_weight=...)

Works on `DirectoryIterator`, on any `BaseIterator` (``flow``'s
`NumpyArrayIterator`) and on plain ``tf.data.Dataset`` objects such as
``image_dataset_from_directory`` results. Iterators read only the samples
asked for (through their ``batches_for`` graph): a subset decodes only its
own files.

Files under ``path``::

    path/
      x.npy              images, ``[rows, *image_shape]``
      y.npy              targets (absent for class_mode None / "input")
      sample_weight.npy  when the iterator has sample weights
      indices.npy        int64 sample index of every row (iterators only):
                         row i is ``it.filepaths[indices[i]]``
      to_numpy.json      the request's fingerprint and progress

While writing, each array is ``NAME.npy.partial``; ``to_numpy.json`` records
how many rows are safely on disk. Run the same call again after an
interruption and it continues from there; the finished ``.npy`` files appear
(``os.replace``) only once complete and synced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import os
import struct
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe._printing import print_msg

__all__ = ["class_counts", "class_weight", "to_numpy"]

# Name of the progress / metadata file written next to the arrays.
META_FILE = "to_numpy.json"
# Seconds between checkpoints (sync data, then record progress). An exception
# or Ctrl-C always checkpoints the last completed batch; a hard kill loses at
# most this much work.
_CHECKPOINT_SECONDS = 2.0
# Batch size for plain datasets of single images (rank-3 elements).
_DEFAULT_BATCH = 32
# The ``.npy`` header is reserved for this many rows, so the row count can be
# written at the end without moving the data (``open_memmap`` cannot grow).
_MAX_ROWS = 10**18
_FORMAT_VERSION = 1
_VERBOSE = (0, 1, 2)
_LEAF_LABELS = ("x", "y", "sample_weight")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def to_numpy(
    it,
    path: str | os.PathLike | None = None,
    *,
    dtype: Any = None,
    augment: bool = False,
    limit: int | None = None,
    per_class: int | float | None = None,
    indices: Any = None,
    seed: int | None = None,
    verbose: int = 1,
    batch_size: int | None = None,
):
    """Every image and label of an iterator (or dataset) as numpy arrays.

    ```
    directory/                      it = ImageDataGenerator(rescale=1/255)
    ├── cat/ 001.jpg 002.jpg ...         .flow_from_directory("directory")
    └── dog/ 003.jpg ...            x, y = to_numpy(it)
    ```

    Rows come in the iterator's current epoch order, ``it.index_array``
    (file order with ``shuffle=False``), with the iterator's ``class_mode``,
    ``color_mode``, ``target_size``, ``data_format``, ``dtype``, rescale and
    standardization: the same values as iterating the current epoch
    (``it.epoch``, the one ``it[i]`` reads) batch by batch. The iterator's
    state is not changed.

    Memory: without ``path`` the result is allocated once (no list of
    batches, no concatenation copy); with ``path`` the arrays are written
    batch by batch to ``path/x.npy`` and ``path/y.npy`` and returned
    memory-mapped read-only (``np.load(..., mmap_mode="r")``), so memory stays
    at a few batches whatever the size. An interrupted run with ``path``
    resumes where it stopped when called again with the same arguments; a
    finished run is reused. Request fingerprint: the file list (paths, not
    contents), shapes, dtypes, selected order and options.

    Args:
        it: A tfdirpipe iterator (``flow_from_directory``, ``flow``) or a
            ``tf.data.Dataset`` of image batches ``[B, H, W, C]`` (or single
            images ``[H, W, C]``), optionally with labels: ``x``, ``(x, y)``
            or ``(x, y, sample_weight)``. A dataset is iterated once, as is.
        path: Directory for the ``.npy`` files (created if missing), or
            ``None`` to return in-memory arrays.
        dtype: Dtype of ``x``. ``None``: the iterator's ``dtype`` (for a
            dataset, as it comes). A float dtype (``"float16"``, ...) casts
            the iterator's output. ``"uint8"`` keeps the raw decoded pixels,
            4x smaller than float32; for a `DirectoryIterator` this skips,
            exactly: the random transforms (so ``augment`` must be False),
            ``preprocessing_function``, ``rescale``, samplewise and
            featurewise centering and std normalization, ZCA whitening and
            the cast to ``it.dtype``; it keeps decoding, ``color_mode``,
            resizing (``target_size``, ``interpolation``,
            ``keep_aspect_ratio``), the iterator's cache, the
            ``data_format`` layout and ``y`` (still ``it.dtype``). For a
            plain dataset (which has no rescale to skip), ``"uint8"`` rounds
            and clips ``x`` to [0, 255]. Other iterators refuse ``"uint8"``.
        augment: Apply the iterator's random transforms, with the draws of
            the current epoch (reproducible for a given iterator ``seed``;
            a subset gets its own draws, not those of the full epoch).
        limit: Keep the first ``limit`` rows (after ``per_class``).
        per_class: Stratified subset: an int takes that many samples of
            each class (a class with fewer is taken whole, with a warning);
            a float in (0, 1] takes that fraction of each class, rounded
            half up, at least 1 for a non-empty class. The chosen samples
            keep their epoch order. Iterators only.
        indices: Explicit sample indices (into ``it.filepaths`` /
            ``it.classes``), in the order wanted; repeats allowed.
            Iterators only; not with ``limit`` or ``per_class``.
        seed: With ``per_class``: draw each class's samples at random with
            this seed (the same set whatever the shuffle or epoch). Without
            it, each class's first samples in the epoch order are taken.
        verbose: 0 silent, 1 progress bar (tqdm when installed, else
            Keras's ``Progbar``) and notices, 2 notices only.
        batch_size: Images decoded per step (default: the iterator's, or the
            dataset's batches); peak memory scales with it.

    Returns:
        ``(x, y)`` for iterators and datasets with labels: ``x`` is
        ``[rows, *image_shape]`` (``image_shape`` is ``(H, W, C)``, or
        ``(C, H, W)`` for ``channels_first``; ``C`` = 3 rgb, 4 rgba,
        1 grayscale) in ``dtype``; ``y`` is one-hot ``[rows, num_classes]``
        (categorical) or ``[rows]`` (binary, sparse), in the iterator's
        ``dtype``. Just ``x`` (not a tuple) for ``class_mode=None`` and for
        ``class_mode="input"`` (whose targets would be ``x`` again). A
        ``flow`` iterator's structure is kept: ``(x, y, sample_weight)``,
        ``((x, *x_misc), y)``. With ``path`` every array is a read-only
        ``np.memmap``.

    Raises:
        TypeError / ValueError: For a bad argument (checked before any I/O).
        FileExistsError: If ``path`` holds arrays written for another
            request (delete them or choose another ``path``).
    """
    req = _check_to_numpy_args(
        it, path, dtype, augment, limit, per_class, indices, seed, verbose, batch_size
    )
    plan = _iterator_plan(it, req) if req.is_iterator else _dataset_plan(it, req)
    if req.path is None:
        return _to_memory(plan, req)
    return _to_files(plan, req)


def class_counts(it) -> dict[Any, int]:
    """Samples per class, every class included (``0`` for an empty one).

    Keys are class names in class-index order (``it.class_indices``); for a
    ``flow`` iterator, the integer labels ``0 .. max(y)`` (one-hot ``y`` is
    read with ``argmax``); for a dataset, its ``class_names`` when it has
    them (``image_dataset_from_directory``), else integers. A dataset is
    iterated once to read its labels, which decodes its images.

    Raises:
        ValueError: If ``it`` has no class labels (``class_mode=None`` still
            has ``it.classes``; an unlabeled dataset has none).
    """
    labels, names = _class_labels(it)
    counts = np.bincount(labels, minlength=len(names)) if labels.size else np.zeros(len(names), int)
    return {name: int(c) for name, c in zip(names, counts)}


def class_weight(it) -> dict[int, float]:
    """Keras-ready ``class_weight``: ``n_samples / (n_classes * count)``.

    The "balanced" formula (scikit-learn's ``compute_class_weight``), keyed
    by class index, for ``model.fit(it, class_weight=class_weight(it))``.
    Classes with no samples are counted out of ``n_classes`` (so the
    weights still average to 1 over the samples) and get weight ``0.0``
    explicitly, with a warning naming them; no sample carries that weight.

    Raises:
        ValueError: If ``it`` has no samples or no class labels.
    """
    counts = class_counts(it)
    values = np.array(list(counts.values()), dtype=np.float64)
    total = values.sum()
    present = int((values > 0).sum())
    if total == 0:
        raise ValueError(
            "`class_weight` needs at least one sample; the iterator is empty. "
            + _validate.received("it", it)
        )
    empty = [name for name, c in counts.items() if c == 0]
    if empty:
        warnings.warn(
            f"class_weight: classes without samples get weight 0.0: {empty}", stacklevel=2
        )
    return {
        i: (float(total / (present * c)) if c else 0.0) for i, c in enumerate(values)
    }


# --------------------------------------------------------------------------
# Argument checks (no I/O)
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Request:
    """Checked arguments of one `to_numpy` call."""

    path: str | None
    dtype: np.dtype | None
    augment: bool
    limit: int | None
    per_class: int | float | None
    indices: np.ndarray | None
    seed: int | None
    verbose: int
    batch_size: int | None
    is_iterator: bool


def _is_iterator(it) -> bool:
    return hasattr(it, "batches_for") and hasattr(it, "index_array") and hasattr(it, "n")


def _check_to_numpy_args(
    it, path, dtype, augment, limit, per_class, indices, seed, verbose, batch_size
) -> _Request:
    if not isinstance(it, tf.data.Dataset):
        raise TypeError(
            "`it` must be a tfdirpipe iterator (from flow_from_directory or flow) or a "
            f"tf.data.Dataset. Received: it={type(it).__name__}"
        )
    is_iter = _is_iterator(it)
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                "`path` must be None or a directory path (str or os.PathLike). "
                + _validate.received("path", path)
            )
        path = os.fspath(path)
        if _validate.is_remote(path):
            raise ValueError(
                "`path` must be a local directory (memory-mapped files need a local file "
                "system); copy the files afterwards. " + _validate.received("path", path)
            )
        if os.path.exists(path) and not os.path.isdir(path):
            raise NotADirectoryError(
                "`path` must be a directory (it is created if missing). "
                + _validate.received("path", path)
            )
    out_dtype = _check_dtype(dtype)
    _validate.boolean("augment", augment)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, numbers.Integral):
            raise TypeError("`limit` must be None or an int >= 0. " + _validate.received("limit", limit))
        if limit < 0:
            raise ValueError("`limit` must be None or an int >= 0. " + _validate.received("limit", limit))
        limit = int(limit)
    if per_class is not None:
        if isinstance(per_class, bool) or not isinstance(per_class, numbers.Real):
            raise TypeError(
                "`per_class` must be None, an int >= 1 (samples per class) or a float in "
                "(0, 1] (fraction of each class). " + _validate.received("per_class", per_class)
            )
        if isinstance(per_class, numbers.Integral):
            if per_class < 1:
                raise ValueError(
                    "`per_class` must be None, an int >= 1 (samples per class) or a float in "
                    "(0, 1] (fraction of each class). " + _validate.received("per_class", per_class)
                )
            per_class = int(per_class)
        elif not 0 < per_class <= 1:
            raise ValueError(
                "`per_class` must be None, an int >= 1 (samples per class) or a float in "
                "(0, 1] (fraction of each class). " + _validate.received("per_class", per_class)
            )
        else:
            per_class = float(per_class)
    seed = _validate.optional_seed("seed", seed)
    if isinstance(verbose, bool):
        verbose = int(verbose)
    if verbose not in _VERBOSE or not isinstance(verbose, numbers.Integral):
        raise ValueError(
            "`verbose` must be one of 0, 1, 2 (silent, progress bar, notices only). "
            + _validate.received("verbose", verbose)
        )
    if batch_size is not None:
        batch_size = _validate.positive_int("batch_size", batch_size)

    # Cross-argument checks, each with its fix.
    if indices is not None and (limit is not None or per_class is not None):
        raise ValueError(
            "Pass either `indices=` or `limit=` / `per_class=`, not both: take the subset "
            "of `indices` yourself. " + _received_short("indices", indices)
        )
    if seed is not None and per_class is None:
        raise ValueError(
            "`seed` only draws the `per_class` subset; pass `per_class=` too, or leave "
            "`seed=None` (the order is the iterator's own). " + _validate.received("seed", seed)
        )
    if out_dtype == np.uint8 and augment:
        raise ValueError(
            "`dtype='uint8'` keeps raw decoded pixels and skips every transform; pass "
            "`augment=False`, or a float `dtype` to get augmented images. "
            + _validate.received("augment", augment)
        )
    if not is_iter:
        for name, value in (("per_class", per_class), ("indices", indices)):
            if value is not None:
                raise ValueError(
                    f"`{name}` needs a tfdirpipe iterator (flow_from_directory / flow), which "
                    "can read single samples; a plain tf.data.Dataset can only be read in its "
                    "order: use `limit=`, or `dataset.filter(...)`. "
                    + _received_short(name, value)
                )
        if augment:
            raise ValueError(
                "`augment=True` applies an iterator's random transforms; a plain "
                "tf.data.Dataset is read as it is (map your augmentation into it). "
                + _validate.received("augment", augment)
            )
        card = int(it.cardinality())
        if card == tf.data.INFINITE_CARDINALITY and limit is None:
            raise ValueError(
                "`it` is an infinite dataset (`.repeat()`); pass `limit=` (rows) or a finite "
                "dataset. " + _validate.received("limit", limit)
            )
    elif out_dtype == np.uint8 and not _has_raw_loader(it):
        raise ValueError(
            "`dtype='uint8'` (raw decoded pixels) needs a DirectoryIterator "
            "(flow_from_directory); pass a float `dtype` for this iterator. "
            + _validate.received("dtype", dtype)
        )
    if indices is not None:
        indices = _check_indices(indices, it.n)
    return _Request(
        path=path, dtype=out_dtype, augment=augment, limit=limit, per_class=per_class,
        indices=indices, seed=seed, verbose=int(verbose), batch_size=batch_size,
        is_iterator=is_iter,
    )


def _check_dtype(dtype) -> np.dtype | None:
    if dtype is None:
        return None
    message = (
        "`dtype` must be None (the iterator's dtype), a float dtype such as 'float32' or "
        "'float16', or 'uint8' (raw pixels). " + _validate.received("dtype", dtype)
    )
    try:
        out = np.dtype(tf.as_dtype(dtype).as_numpy_dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(message) from err
    if not (np.issubdtype(out, np.floating) or out == np.uint8):
        raise ValueError(message)
    return out


def _check_indices(indices, n: int) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            "`indices` must be a 1-D sequence of ints (sample indices). "
            + _received_short("indices", indices)
        )
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(
            f"`indices` must lie in [0, {n}) (the iterator's samples). Received: indices with "
            f"min={int(arr.min())} and max={int(arr.max())}"
        )
    return arr


def _received_short(name: str, value) -> str:
    """``Received: name=value`` with long sequences cut short."""
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return f"Received: {name}={text if len(text) <= 60 else text[:57] + '...'}"


def _has_raw_loader(it) -> bool:
    return hasattr(it, "batch_spec") and hasattr(it, "load_spec") and hasattr(it, "_load")


# --------------------------------------------------------------------------
# Plans: what to read, in which order, with which fingerprint
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _Leaf:
    """One output array: file name, dtype and the shape of one row."""

    name: str
    dtype: np.dtype
    row_shape: tuple[int, ...]


@dataclasses.dataclass
class _Plan:
    """Everything `_to_memory` / `_to_files` need, independent of the source."""

    leaves: list[_Leaf]
    structure: Any  # nested structure of the kept leaves (for packing the result)
    rows: int | None  # exact row count, or None when unknown before reading
    rows_hint: int | None  # for the progress bar
    batch_size: int | None  # rows per batch (iterators: fixed)
    seekable: bool  # batches(start) can start at any multiple of batch_size
    batches: Callable[[int], Iterator[list[np.ndarray]]]
    fingerprint: dict
    indices: np.ndarray | None
    class_indices: dict | None


def _iterator_plan(it, req: _Request) -> _Plan:
    order = np.asarray(it.index_array, dtype=np.int64)
    if req.indices is not None:
        selection = req.indices
    else:
        selection = order
        if req.per_class is not None:
            selection = _stratified(it, order, req.per_class, req.seed)
        if req.limit is not None:
            selection = selection[: req.limit]
    selection = np.ascontiguousarray(selection, dtype=np.int64)
    bs = req.batch_size or it.batch_size
    epoch = int(it.epoch)
    raw = req.dtype == np.uint8
    drop_target = getattr(it, "class_mode", None) == "input"

    def make(start_rows: int) -> tf.data.Dataset:
        return _iterator_batches(
            it, selection[start_rows:], epoch, start_rows // bs, bs, req.augment, raw
        )

    first = make(0)  # built once: its element_spec, then its batches
    spec = first.element_spec
    kept = spec[0] if drop_target and isinstance(spec, tuple) else spec
    leaves = _leaves_from_spec(kept, req.dtype)
    x_cast = None if raw else req.dtype

    def batches(start_rows: int) -> Iterator[list[np.ndarray]]:
        if start_rows >= len(selection):
            return  # nothing to read: do not start the pipeline at all
        if start_rows % bs:
            raise AssertionError("resume point must be a batch boundary")
        for batch in first if start_rows == 0 else make(start_rows):
            if drop_target and isinstance(batch, tuple):
                batch = batch[0]
            yield _convert(tf.nest.flatten(batch), x_cast, rounding=False)

    fingerprint = {
        "source": _describe_iterator(it, req.augment),
        "selection": _digest_array(selection),
        "rows": int(len(selection)),
        "dtype": None if req.dtype is None else req.dtype.str,
        "raw": raw,
        "augment": req.augment,
        "epoch": epoch if req.augment else None,
        "batch_size": bs if req.augment else None,
        "leaves": [[leaf.name, leaf.dtype.str, list(leaf.row_shape)] for leaf in leaves],
    }
    return _Plan(
        leaves=leaves,
        structure=kept,
        rows=int(len(selection)),
        rows_hint=int(len(selection)),
        batch_size=bs,
        seekable=True,
        batches=batches,
        fingerprint=fingerprint,
        indices=selection,
        class_indices=_jsonable(getattr(it, "class_indices", None)),
    )


def _iterator_batches(it, indices, epoch, first_batch, bs, augment, raw) -> tf.data.Dataset:
    """Finished batches of sample ``indices``, in that order, numbered from ``first_batch``.

    The graph of ``it.batches_for`` (`pipeline.batches_from_indices` over the
    iterator's ``load`` and ``finish``), with three differences: the map is
    always ordered (``batches_for`` inherits ``deterministic=False`` from an
    unseeded shuffling iterator), batch numbers (which seed the random
    transforms) can start past 0 to resume augmented output, and ``load`` /
    ``finish`` are traced once per iterator rather than once per call
    (tracing the decoder costs seconds). ``raw``: uint8 pixels, see
    `to_numpy`.
    """
    from tfdirpipe import pipeline

    load = _traced(it, "load", lambda: tf.function(it._load))
    if raw:
        finish = _traced(it, "raw", lambda: tf.function(_raw_finish(it.batch_spec)))
    else:
        fn = it._finish
        finish = _traced(
            it, ("finish", augment), lambda: tf.function(lambda batch, seed: fn(batch, seed, augment))
        )
    ds = pipeline.batches_from_indices(
        tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64)),
        load, finish, it._seed, tf.constant(epoch, tf.int64), first_batch, bs, True,
    )
    return ds.prefetch(pipeline.AUTOTUNE)


def _traced(it, key, make: Callable[[], Any]):
    """A ``tf.function`` kept on the iterator, so later datasets reuse its trace."""
    fns = it.__dict__.setdefault("_to_numpy_functions", {})
    if key not in fns:
        fns[key] = make()
    return fns[key]


def _raw_finish(spec):
    """``finish`` for raw uint8 output of a DirectoryIterator: layout and labels only."""
    from tfdirpipe import pipeline

    def finish(batch, _seed):
        images, labels = batch
        x = images
        if spec.data_format == "channels_first":
            x = tf.transpose(x, (0, 3, 1, 2))
        y = pipeline.encode_labels(labels, spec.class_mode, spec.num_classes, spec.dtype)
        if y is None or spec.class_mode == "input":
            return x
        return x, y

    return finish


def _stratified(it, order: np.ndarray, per_class, seed) -> np.ndarray:
    """The epoch order restricted to a per-class sample (see `to_numpy`)."""
    labels, names = _class_labels(it)
    chosen = np.zeros(len(labels), dtype=bool)
    rng = np.random.default_rng(seed) if seed is not None else None
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    short = {}
    for c, name in enumerate(names):
        members = np.flatnonzero(labels == c)  # sample indices, ascending
        size = len(members)
        if isinstance(per_class, int):
            k = min(per_class, size)
            if per_class > size:
                short[name] = size
        else:
            k = min(size, max(1, int(math.floor(per_class * size + 0.5)))) if size else 0
        if rng is not None:
            picked = rng.choice(members, size=k, replace=False) if k else members[:0]
        else:
            picked = members[np.argsort(position[members], kind="stable")[:k]]
        chosen[picked] = True
    if short:
        warnings.warn(
            f"per_class={per_class}: these classes have fewer samples and are taken whole: "
            f"{short}",
            stacklevel=4,
        )
    return order[chosen[order]]


def _dataset_plan(ds: tf.data.Dataset, req: _Request) -> _Plan:
    spec = ds.element_spec
    flat = tf.nest.flatten(spec)
    if not flat or not isinstance(flat[0], tf.TensorSpec):
        raise TypeError(
            "`it` must yield images, or tuples starting with images. "
            f"Received: it with element_spec={spec}"
        )
    rank = flat[0].shape.rank
    if rank == 3:
        ds = ds.batch(req.batch_size or _DEFAULT_BATCH)
    elif rank == 4:
        if req.batch_size is not None:
            ds = ds.unbatch().batch(req.batch_size)
    else:
        raise ValueError(
            "`it` must yield image batches [B, H, W, C] or images [H, W, C]. "
            f"Received: it with element_spec={spec}"
        )
    spec = ds.element_spec
    if not all(s.shape[1:].is_fully_defined() for s in tf.nest.flatten(spec)):
        # Row shapes known only at run time: read them off the first batch.
        first = next(iter(ds.take(1)), None)
        specs = tf.nest.flatten(spec)
        shapes = (
            [t.shape[1:] for t in tf.nest.flatten(first)]
            if first is not None
            else [[d or 0 for d in s.shape[1:]] for s in specs]
        )
        spec = tf.nest.pack_sequence_as(
            spec, [tf.TensorSpec([None, *shape], s.dtype) for shape, s in zip(shapes, specs)]
        )
    leaves = _leaves_from_spec(spec, req.dtype)
    limit = req.limit
    rounding = req.dtype == np.uint8

    def batches(_start_rows: int) -> Iterator[list[np.ndarray]]:
        left = limit
        for batch in ds:
            arrays = _convert(tf.nest.flatten(batch), req.dtype, rounding=rounding)
            if left is not None:
                if left <= 0:
                    return
                if len(arrays[0]) > left:
                    arrays = [a[:left] for a in arrays]
                left -= len(arrays[0])
            yield arrays
            if left is not None and left <= 0:
                return

    card = int(ds.cardinality())
    paths = getattr(ds, "file_paths", None)
    hint = len(paths) if isinstance(paths, list) else None
    if hint is None and card >= 0:
        hint = card * (_batch_dim(ds) or 1)
    if limit is not None:
        hint = limit if hint is None else min(hint, limit)
    fingerprint = {
        "source": {
            "type": type(ds).__name__,
            "element_spec": str(ds.element_spec),
            "cardinality": card,
            "file_paths": _digest_strings(paths) if isinstance(paths, list) else None,
            "class_names": _jsonable(getattr(ds, "class_names", None)),
        },
        "limit": limit,
        "dtype": None if req.dtype is None else req.dtype.str,
        "batch_size": req.batch_size,
        "leaves": [[leaf.name, leaf.dtype.str, list(leaf.row_shape)] for leaf in leaves],
    }
    names = getattr(ds, "class_names", None)
    return _Plan(
        leaves=leaves,
        structure=spec,
        rows=None,
        rows_hint=hint,
        batch_size=None,
        seekable=False,
        batches=batches,
        fingerprint=fingerprint,
        indices=None,
        class_indices={n: i for i, n in enumerate(names)} if isinstance(names, list) else None,
    )


def _batch_dim(ds: tf.data.Dataset) -> int | None:
    dim = tf.nest.flatten(ds.element_spec)[0].shape[0]
    return int(dim) if dim is not None else None


def _leaf_names(structure) -> list[str]:
    parts = list(structure) if isinstance(structure, tuple) else [structure]
    names = []
    for i, part in enumerate(parts):
        label = _LEAF_LABELS[i] if i < len(_LEAF_LABELS) else f"part{i}"
        count = len(tf.nest.flatten(part))
        names += [label] + [f"{label}_{j}" for j in range(1, count)]
    return names


def _leaves_from_spec(structure, x_dtype: np.dtype | None) -> list[_Leaf]:
    specs = tf.nest.flatten(structure)
    leaves = []
    for i, (name, spec) in enumerate(zip(_leaf_names(structure), specs)):
        dtype = np.dtype(spec.dtype.as_numpy_dtype)
        if i == 0 and x_dtype is not None:
            dtype = x_dtype
        leaves.append(_Leaf(name, dtype, tuple(int(d) for d in spec.shape[1:])))
    return leaves


def _convert(tensors, x_dtype: np.dtype | None, rounding: bool) -> list[np.ndarray]:
    arrays = [t.numpy() if hasattr(t, "numpy") else np.asarray(t) for t in tensors]
    if x_dtype is not None and arrays[0].dtype != x_dtype:
        x = arrays[0]
        if rounding and not np.issubdtype(x.dtype, np.integer):
            x = np.clip(np.rint(x), 0, 255)
        arrays[0] = x.astype(x_dtype)
    return arrays


# --------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------


def _jsonable(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _digest_array(value)
    return repr(value)


def _digest_array(arr) -> str:
    arr = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _digest_strings(values) -> str:
    h = hashlib.sha256()
    for v in values:
        h.update(os.fsencode(v))
        h.update(b"\0")
    return h.hexdigest()


def _describe_iterator(it, augment: bool) -> dict:
    """What decides the pixels and labels of an iterator's samples."""
    desc: dict[str, Any] = {"type": type(it).__qualname__, "n": int(it.n)}
    for name in (
        "directory", "class_mode", "color_mode", "target_size", "interpolation",
        "keep_aspect_ratio", "data_format", "dtype", "fast", "subset", "image_shape",
        "class_indices", "exif_orientation",
    ):
        if hasattr(it, name):
            desc[name] = _jsonable(getattr(it, name))
    paths = getattr(it, "filepaths", None)
    if paths is not None:
        desc["filepaths"] = _digest_strings(paths)
    for name in ("x", "y", "sample_weight"):  # flow(): the data itself
        value = getattr(it, name, None) if paths is None else None
        if isinstance(value, np.ndarray):
            desc[name] = _digest_array(value)
    misc = getattr(it, "x_misc", None)
    if misc:
        desc["x_misc"] = [_digest_array(m) for m in misc]
    if augment:
        desc["seed"] = int(getattr(it, "_seed", -1))
    gen = getattr(it, "image_data_generator", None)
    if gen is not None:
        fn = getattr(gen, "preprocessing_function", None)
        desc["generator"] = {
            "augment": repr(getattr(gen, "augment_config", None)) if augment else None,
            "standardize": repr(getattr(gen, "standardize_config", None)),
            "preprocessing_function": (
                None if fn is None else f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
            ),
            "mean": _jsonable(getattr(gen, "mean", None)),
            "std": _jsonable(getattr(gen, "std", None)),
            "zca": _jsonable(getattr(gen, "zca_whitening_matrix", None)),
        }
    return desc


def _hash(fingerprint: dict) -> str:
    text = json.dumps(fingerprint, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


def _class_labels(it) -> tuple[np.ndarray, list]:
    """Integer class of every sample, and the class names by index."""
    classes = getattr(it, "classes", None)
    if classes is not None and not callable(classes):
        labels = np.asarray(classes, dtype=np.int64).reshape(-1)
        indices = getattr(it, "class_indices", None)
        if indices:
            names = sorted(indices, key=indices.get)
        else:
            names = list(range(int(labels.max()) + 1 if labels.size else 0))
        return labels, names
    if _is_iterator(it):
        y = getattr(it, "y", None)
        if y is None:
            raise ValueError(
                "Class statistics need labels; this iterator has none (`flow(x)` without "
                "`y`). " + _validate.received("it", it)
            )
        labels = _labels_from_targets(np.asarray(y))
        return labels, list(range(int(labels.max()) + 1 if labels.size else 0))
    if not isinstance(it, tf.data.Dataset):
        raise TypeError(
            "`it` must be a tfdirpipe iterator or a tf.data.Dataset. "
            f"Received: it={type(it).__name__}"
        )
    spec = it.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(
            "Class statistics need labels; this dataset yields images only "
            "(label_mode=None). " + _validate.received("it", it)
        )
    parts = [
        _labels_from_targets(y.numpy())
        for y in it.map(lambda *e: e[1], num_parallel_calls=tf.data.AUTOTUNE)
    ]
    labels = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    names = getattr(it, "class_names", None)
    if not isinstance(names, list):
        names = list(range(int(labels.max()) + 1 if labels.size else 0))
    return labels, names


def _labels_from_targets(y: np.ndarray) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype(np.int64)
    flat = y.reshape(len(y), -1) if y.ndim else y.reshape(1)
    if flat.ndim == 2 and flat.shape[1] != 1:
        raise ValueError(f"Labels must be class indices or one-hot rows. Received: y.shape={y.shape}")
    flat = flat.reshape(-1)
    ints = np.rint(flat).astype(np.int64)
    if not np.array_equal(ints, flat) or (ints.size and ints.min() < 0):
        raise ValueError(
            "Labels must be non-negative class indices or one-hot rows. "
            f"Received: labels with values like {flat[:5].tolist()}"
        )
    return ints


# --------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------


class _Progress:
    """A tqdm bar (Keras's Progbar without tqdm) that honours ``verbose``."""

    def __init__(self, total: int | None, verbose: int, initial: int = 0, desc: str = "to_numpy"):
        self.count = initial
        self.tqdm = None
        self.progbar = None
        if verbose != 1:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            import keras

            self.progbar = keras.utils.Progbar(total, unit_name="image")
            if initial:
                self.progbar.update(initial)
        else:
            self.tqdm = tqdm(total=total, initial=initial, unit="img", desc=desc, dynamic_ncols=True)

    def update(self, rows: int) -> None:
        self.count += rows
        if self.tqdm is not None:
            self.tqdm.update(rows)
        elif self.progbar is not None:
            self.progbar.update(self.count)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()


# --------------------------------------------------------------------------
# In memory
# --------------------------------------------------------------------------


def _to_memory(plan: _Plan, req: _Request):
    capacity = plan.rows if plan.rows is not None else (plan.rows_hint or 0)
    arrays = [np.empty((capacity, *leaf.row_shape), leaf.dtype) for leaf in plan.leaves]
    rows = 0
    progress = _Progress(plan.rows_hint, req.verbose)
    try:
        for batch in plan.batches(0):
            count = len(batch[0])
            if rows + count > capacity:  # unknown size: grow geometrically
                capacity = max(2 * capacity, rows + count, 64)
                for a in arrays:
                    a.resize((capacity, *a.shape[1:]), refcheck=False)
            for a, b in zip(arrays, batch):
                _check_rows(a, b)
                a[rows : rows + count] = b
            rows += count
            progress.update(count)
    finally:
        progress.close()
    if rows != capacity:
        for a in arrays:
            a.resize((rows, *a.shape[1:]), refcheck=False)
    return _pack(plan.structure, arrays)


def _check_rows(array: np.ndarray, batch: np.ndarray) -> None:
    if batch.shape[1:] != array.shape[1:]:
        raise ValueError(
            "Every element must have the same shape to be stacked; resize the images "
            f"(e.g. `image_size=`). Expected rows of shape {array.shape[1:]}. "
            f"Received: a batch of shape {batch.shape}"
        )


def _pack(structure, arrays: list[np.ndarray]):
    return tf.nest.pack_sequence_as(structure, arrays)


# --------------------------------------------------------------------------
# Out of core: .npy files written batch by batch
# --------------------------------------------------------------------------


def _npy_header(dtype: np.dtype, shape: tuple[int, ...], length: int | None = None) -> bytes:
    """A version 1.0 ``.npy`` header, padded to ``length`` (or to 64 bytes)."""
    text = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (
        np.lib.format.dtype_to_descr(dtype),
        tuple(int(s) for s in shape),
    )
    body = text.encode("latin1")
    size = 10 + len(body) + 1
    target = length if length is not None else -(-size // 64) * 64
    if size > target:
        raise AssertionError("reserved .npy header is too small")
    body += b" " * (target - size) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


class _NpyWriter:
    """``NAME.npy.partial`` written row block by row block with positioned writes.

    Writes go through the page cache with ``pwrite``-style calls instead of a
    writable memory map: pages of a mapping stay resident and count in the
    process's RSS until it is unmapped, so a memory map of the whole output
    would grow like the naive recipe. The header is reserved for ``_MAX_ROWS``
    rows and rewritten with the real count when the file is finished.
    """

    def __init__(self, root: str, leaf: _Leaf):
        self.leaf = leaf
        self.final = os.path.join(root, leaf.name + ".npy")
        self.partial = self.final + ".partial"
        self.header_len = len(_npy_header(leaf.dtype, (_MAX_ROWS, *leaf.row_shape)))
        self.row_bytes = leaf.dtype.itemsize * int(np.prod(leaf.row_shape, dtype=np.int64))
        self.file = None

    def rows_on_disk(self) -> int:
        try:
            size = os.path.getsize(self.partial)
        except OSError:
            return -1
        if size < self.header_len:
            return -1
        return (size - self.header_len) // self.row_bytes if self.row_bytes else 0

    def open(self, rows: int) -> None:
        """Opens for writing with exactly ``rows`` rows kept (0: a new file)."""
        if rows == 0 or not os.path.exists(self.partial):
            self.file = open(self.partial, "wb+", buffering=0)
            self._write_at(0, _npy_header(self.leaf.dtype, (0, *self.leaf.row_shape), self.header_len))
        else:
            self.file = open(self.partial, "rb+", buffering=0)
        self.file.truncate(self.header_len + rows * self.row_bytes)

    def write(self, row: int, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.leaf.dtype)
        self._write_at(self.header_len + row * self.row_bytes, memoryview(block).cast("B"))

    def read(self, row: int, count: int) -> bytes:
        self.file.seek(self.header_len + row * self.row_bytes)
        return self.file.read(count * self.row_bytes)

    def _write_at(self, offset: int, data) -> None:
        view = memoryview(data)
        self.file.seek(offset)
        while view.nbytes:
            written = self.file.write(view)
            view = view[written:]

    def sync(self) -> None:
        if self.file is not None:
            os.fsync(self.file.fileno())

    def finish(self, rows: int) -> None:
        """Writes the real header, trims, syncs and closes."""
        self._write_at(0, _npy_header(self.leaf.dtype, (rows, *self.leaf.row_shape), self.header_len))
        self.file.truncate(self.header_len + rows * self.row_bytes)
        self.close(sync=True)

    def close(self, sync: bool = False) -> None:
        if self.file is not None:
            if sync:
                os.fsync(self.file.fileno())
            self.file.close()
            self.file = None


def _read_meta(path: str) -> dict | None:
    try:
        with open(path) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == _FORMAT_VERSION else None


def _write_json_atomic(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _load(root: str, plan: _Plan, names: list[str]):
    arrays = [np.load(os.path.join(root, name + ".npy"), mmap_mode="r") for name in names]
    return _pack(plan.structure, arrays)


def _to_files(plan: _Plan, req: _Request):
    root = req.path
    os.makedirs(root, exist_ok=True)
    meta_path = os.path.join(root, META_FILE)
    fingerprint = _hash(plan.fingerprint)
    names = [leaf.name for leaf in plan.leaves]
    outputs = names + (["indices"] if plan.indices is not None else [])
    finals = [os.path.join(root, n + ".npy") for n in outputs]
    meta = _read_meta(meta_path)
    base = {
        "format": _FORMAT_VERSION,
        "fingerprint": fingerprint,
        "request": plan.fingerprint,
        "class_indices": plan.class_indices,
        "arrays": outputs,
    }

    same = meta is not None and meta.get("fingerprint") == fingerprint
    status = meta.get("state") if meta is not None else None
    if same and status == "done" and all(os.path.exists(f) for f in finals):
        print_msg(f"Reusing the arrays already written to {root}.", req.verbose)
        return _load(root, plan, names)
    if same and status == "final":  # interrupted while moving files into place
        _publish(root, outputs, meta_path, {**base, "rows": meta["rows"]})
        return _load(root, plan, names)
    if not same and status in ("done", "final"):
        raise FileExistsError(
            f"`path` holds arrays written by another to_numpy request ({META_FILE} differs); "
            "delete them or choose another `path`. " + _validate.received("path", root)
        )
    if meta is None and any(os.path.exists(f) for f in finals):
        raise FileExistsError(
            "`path` already holds .npy files not written by to_numpy; delete them or "
            "choose another `path`. " + _validate.received("path", root)
        )

    writers = [_NpyWriter(root, leaf) for leaf in plan.leaves]
    done = 0
    if same and status == "writing":
        done = int(meta.get("rows", 0))
        if any(w.rows_on_disk() < done for w in writers):
            done = 0
    elif meta is not None and not same:
        print_msg(f"Discarding an unfinished to_numpy run for another request in {root}.", req.verbose)
    if done and plan.seekable and plan.batch_size and done % plan.batch_size and done != plan.rows:
        done -= done % plan.batch_size  # resume on a batch boundary
    if done:
        print_msg(f"Resuming: {done} rows already in {root}.", req.verbose)
    for w in writers:
        w.open(done)
    state = {**base, "state": "writing", "rows": done}
    _write_json_atomic(meta_path, state)

    progress = _Progress(plan.rows_hint, req.verbose, initial=done if plan.seekable else 0)
    rows = done if plan.seekable else 0  # next row to produce
    written = done  # rows known good on disk
    last_checkpoint = time.monotonic()

    def checkpoint():
        for w in writers:
            w.sync()
        _write_json_atomic(meta_path, {**state, "rows": written})

    try:
        for batch in plan.batches(rows):
            count = len(batch[0])
            for w, b in zip(writers, batch):
                if b.shape[1:] != w.leaf.row_shape:
                    _check_rows(np.empty((0, *w.leaf.row_shape)), b)
            if rows < written:
                # A dataset cannot seek: its first rows are read again and
                # compared with the file; from the first difference (an
                # unseeded shuffle, say) on they are rewritten.
                same = rows + count <= written and all(
                    w.read(rows, count) == np.ascontiguousarray(b, w.leaf.dtype).tobytes()
                    for w, b in zip(writers, batch)
                )
                if not same:
                    written = rows
            if rows >= written:
                for w, b in zip(writers, batch):
                    w.write(rows, b)
                written = rows + count
            rows += count
            progress.update(count)
            if time.monotonic() - last_checkpoint >= _CHECKPOINT_SECONDS:
                checkpoint()
                last_checkpoint = time.monotonic()
        written = rows
        for w in writers:
            w.finish(rows)
    except BaseException:
        try:
            if any(w.file is not None for w in writers):
                checkpoint()
        finally:
            for w in writers:
                w.close()
            progress.close()
        raise
    progress.close()
    if plan.indices is not None:
        _save_partial(os.path.join(root, "indices.npy"), plan.indices)
    _write_json_atomic(meta_path, {**state, "state": "final", "rows": rows})
    _publish(root, outputs, meta_path, {**base, "rows": rows})
    return _load(root, plan, names)


def _save_partial(final: str, array: np.ndarray) -> None:
    with open(final + ".partial", "wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array))
        f.flush()
        os.fsync(f.fileno())


def _publish(root: str, outputs: list[str], meta_path: str, meta: dict) -> None:
    """Moves every finished ``.partial`` into place, then marks the run done."""
    for name in outputs:
        final = os.path.join(root, name + ".npy")
        if os.path.exists(final + ".partial"):
            os.replace(final + ".partial", final)
    _fsync_dir(root)
    _write_json_atomic(meta_path, {**meta, "state": "done"})
