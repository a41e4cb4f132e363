"""`DataFrameIterator`: ``ImageDataGenerator.flow_from_dataframe`` as a tf.data pipeline.

The dataframe is read once, in Python, in Keras's order of steps: check the
columns, drop rows whose file is missing or has an unsupported extension
(``validate_filenames``), drop rows without a wanted class, take the
``subset`` slice, then build the targets. The targets are precomputed as
numpy arrays (class indices, raw values, one array per output, weights),
held as constants of the graph and gathered per sample next to the decoded
image; the batch stage encodes them (one-hot / multi-hot, casts).

pandas is never imported here: any object with ``columns`` and
``df[name]`` columns (``tolist()`` or iterable) works.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import types
import warnings
from typing import Any

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe import cache as cache_lib
from tfdirpipe import listing
from tfdirpipe import pipeline
from tfdirpipe._printing import print_msg
from tfdirpipe.iterator import (
    BaseIterator,
    _find_bad,
    _kept,
    _report_skipped,
    _validate_device_stage,
)

# Keras's order of `class_mode` values, used in messages.
DATAFRAME_CLASS_MODES: tuple[Any, ...] = (
    "categorical", "binary", "sparse", "input", "multi_output", "raw", None,
)
# Modes whose targets are class indices built from `y_col` strings.
_CLASS_MODES = ("categorical", "binary", "sparse")


class DataFrameIterator(BaseIterator):
    """Iterator over image files listed in a dataframe (``flow_from_dataframe``).

    Same constructor, attributes and outputs as Keras's legacy
    ``DataFrameIterator``; create it with
    `tfdirpipe.ImageDataGenerator.flow_from_dataframe`.

    ```
    dataframe                      directory/
    filename     class  weight     ├── a.png
    "a.png"      "cat"  1.0        ├── b.jpg
    "b.jpg"      "dog"  0.5        └── sub/c.png
    "sub/c.png"  "cat"  2.0
    ```

    Returns (per batch, ``B <= batch_size``):
        ``x``: ``dtype`` ``[B, *image_shape]`` (``target_size + (C,)``, or
        ``(C,) + target_size`` for ``channels_first``; ``C`` = 3 / 4 / 1 for
        rgb / rgba / grayscale).
        ``y`` by ``class_mode``: categorical ``[B, num_classes]`` one-hot
        (multi-hot where a ``y_col`` value is a list of classes); binary /
        sparse ``[B]`` class indices; all three in ``dtype``. raw: the
        ``y_col`` values, ``[B]`` (or ``[B, len(y_col)]`` for a list of
        columns) in the column's own dtype; multi_output: a list with one
        array per ``y_col`` column; input: ``x`` again; None: no ``y`` (the
        batch is ``x`` alone).
        With ``weight_col`` (and a ``class_mode`` other than None) the batch
        is ``(x, y, w)``, ``w`` ``[B]`` in the column's dtype.
    """

    allowed_class_modes = set(DATAFRAME_CLASS_MODES)
    white_list_formats = listing.LEGACY_FORMATS

    def __init__(
        self,
        dataframe,
        directory=None,
        image_data_generator=None,
        x_col="filename",
        y_col="class",
        weight_col=None,
        target_size=(256, 256),
        color_mode="rgb",
        classes=None,
        class_mode="categorical",
        batch_size=32,
        shuffle=True,
        seed=None,
        data_format="channels_last",
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        subset=None,
        interpolation="nearest",
        keep_aspect_ratio=False,
        dtype="float32",
        validate_filenames=True,
        *,
        verbose: bool = True,
        fast: bool = False,
        cache: str | None = None,
        deterministic: bool | None = None,
        max_pixels: int | None = None,
        on_error: str = "raise",
        preflight: bool | None = None,
        exif_orientation: bool = False,
        device_stage: bool = False,
    ):
        device_stage = _validate_device_stage(device_stage, class_mode)
        args = _validate_dataframe_args(
            dataframe, directory, image_data_generator, x_col, y_col, weight_col,
            target_size, color_mode, classes, class_mode, batch_size, shuffle, seed,
            data_format, subset, interpolation, keep_aspect_ratio, dtype,
            validate_filenames, fast, cache, deterministic, on_error, preflight,
        )
        max_pixels = self._set_file_options(
            args, image_data_generator, color_mode, class_mode, subset, interpolation,
            keep_aspect_ratio, (save_to_dir, save_prefix, save_format), fast,
            exif_orientation, max_pixels, on_error,
        )
        self.x_col = x_col
        self.y_col = y_col
        self.weight_col = weight_col
        self.validate_filenames = validate_filenames

        table = _read_table(dataframe, x_col, y_col, weight_col, class_mode)
        _check_values(table, x_col, y_col, weight_col, classes, class_mode)
        rows, labels, class_names = self._select_rows(table, classes)
        filenames = [table.x[r] for r in rows]
        filepaths = [os.path.join(self.directory, f) for f in filenames]
        self.skipped = _find_bad(
            types.SimpleNamespace(filepaths=filepaths, dangling=[]),
            on_error, preflight, color_mode, max_pixels,
        )
        if self.skipped and on_error != "raise":
            keep = _kept(filepaths, self.skipped)
            rows = [rows[k] for k in keep]
            filenames = [filenames[k] for k in keep]
            filepaths = [filepaths[k] for k in keep]
            _report_skipped(self.skipped, on_error, verbose)

        self.filenames = filenames
        self._filepaths = filepaths
        self.samples = len(filenames)
        self.class_indices = {name: i for i, name in enumerate(class_names)}
        self.num_classes = len(class_names)
        self.classes = [labels[r] for r in rows] if class_mode in _CLASS_MODES else None
        self._targets = _targets(table, rows, class_mode, y_col)
        self._sample_weight = table.weights[rows] if table.weights is not None else None
        validated = "validated" if validate_filenames else "non-validated"
        if class_mode in _CLASS_MODES:
            print_msg(
                f"Found {self.samples} {validated} image filenames "
                f"belonging to {self.num_classes} classes.",
                verbose,
            )
        else:
            print_msg(f"Found {self.samples} {validated} image filenames.", verbose)

        self._set_image_shape(color_mode)
        load_image, load_images = self._image_loader(
            filepaths, cache, max_pixels, args["batch_size"]
        )
        load, load_batch, finish = self._graph_functions(
            load_image, load_images, args["batch_size"], device_stage
        )
        self._build(
            self.samples, args["batch_size"], shuffle, seed, load, finish, deterministic,
            load_batch=load_batch,
        )

    # -- construction steps ------------------------------------------------
    def _select_rows(self, table, classes):
        """Rows kept (positions in the dataframe), per-row labels, class names.

        Keras's order: filename check, class filter, then the subset slice.
        """
        rows = list(range(len(table.x)))
        if self.validate_filenames:
            formats = self.white_list_formats
            valid = [
                r for r in rows
                if _valid_filename(os.path.join(self.directory, table.x[r]), formats)
            ]
            if len(valid) != len(rows):
                warnings.warn(
                    f'Found {len(rows) - len(valid)} invalid image filename(s) in '
                    f'x_col="{self.x_col}". These filename(s) will be ignored.',
                    stacklevel=4,
                )
            rows = valid
        labels: dict[int, Any] = {}
        class_names: list[str] = []
        if self.class_mode in _CLASS_MODES:
            rows, labels, class_names = _filter_classes(table.y, rows, classes)
        if self.split is not None:
            start, stop = int(self.split[0] * len(rows)), int(self.split[1] * len(rows))
            rows = rows[start:stop]
        return rows, labels, class_names

    def _graph_functions(self, load_image, load_images, batch_size: int, device_stage: bool):
        """``load(i)``, ``load_batch(indices)`` (None without ``load_images``)
        and ``finish(batch, seed, augment)`` for `BaseIterator._build`."""
        n = self.samples
        parts = [
            tf.constant(a if n else np.zeros((1, *a.shape[1:]), a.dtype)) for a in self._parts()
        ]

        def load(i):
            return load_image(i), tuple(tf.gather(p, i) for p in parts)

        def load_batch(indices):
            return load_images(indices), tuple(tf.gather(p, indices) for p in parts)

        specs = self._batch_specs(
            pipeline.BatchSpec(
                batch_size=batch_size,
                class_mode=None,
                num_classes=self.num_classes,
                dtype=self.dtype,
                data_format=self.data_format,
            ),
            device_stage,
        )
        class_mode, num_classes, dtype = self.class_mode, self.num_classes, self.dtype
        has_weight = self._sample_weight is not None and class_mode is not None

        def finish(batch, seed, augment):
            images, got = batch
            x = pipeline.finish_batch(images, None, seed, specs[augment])
            if class_mode is None:
                return x
            if class_mode == "input":
                y = tf.identity(x)
            elif class_mode == "categorical":
                # [B, m] class indices padded with -1 -> [B, K] multi-hot.
                y = tf.reduce_max(tf.one_hot(got[0], num_classes, dtype=dtype), axis=1)
            elif class_mode in ("binary", "sparse"):
                y = tf.cast(got[0], dtype)
            elif class_mode == "raw":
                y = got[0]
            else:  # multi_output: a tuple here, a list in numpy batches
                y = tuple(got[: len(got) - has_weight])
            return (x, y, got[-1]) if has_weight else (x, y)

        return load, (load_batch if load_images else None), finish

    def _parts(self) -> list[np.ndarray]:
        """The per-sample arrays ``load`` gathers, in the order ``finish`` reads them."""
        parts = []
        if self.class_mode == "categorical":
            width = max([len(c) for c in self.classes if isinstance(c, list)], default=1)
            idx = np.full((self.samples, max(width, 1)), -1, np.int32)
            for k, c in enumerate(self.classes):
                c = c if isinstance(c, list) else [c]
                idx[k, : len(c)] = c
            parts.append(idx)
        elif self.class_mode in ("binary", "sparse"):
            parts.append(np.asarray(self.classes, np.int32).reshape(self.samples))
        elif self.class_mode == "raw":
            parts.append(self._targets)
        elif self.class_mode == "multi_output":
            parts.extend(self._targets)
        if self._sample_weight is not None and self.class_mode is not None:
            parts.append(self._sample_weight)
        return parts

    # -- Keras legacy iterator -------------------------------------------
    def __getitem__(self, idx: int):
        """Batch ``idx`` of the current epoch as numpy arrays (random access)."""
        return self._keras_structure(super().__getitem__(idx))

    def __next__(self):
        """The next batch as numpy arrays, cycling through epochs forever."""
        return self._keras_structure(super().__next__())

    def _keras_structure(self, batch):
        if self.class_mode == "multi_output":
            return (batch[0], list(batch[1]), *batch[2:])
        return batch

    @property
    def filepaths(self) -> list[str]:
        """``os.path.join(directory, filename)`` of every sample."""
        return self._filepaths

    @property
    def labels(self):
        """Targets of every sample: ``classes``, or the raw / multi_output arrays."""
        if self.class_mode in ("multi_output", "raw"):
            return self._targets
        return self.classes

    @property
    def sample_weight(self) -> np.ndarray | None:
        """The ``weight_col`` value of every sample, or ``None``."""
        return self._sample_weight


# --------------------------------------------------------------------------
# Reading and checking the dataframe (pure Python, no TensorFlow)
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _Table:
    """The dataframe columns the iterator uses, read once.

    Attributes:
        x: ``x_col`` values.
        y: ``y_col`` values (class modes), else ``None``.
        raw: ``np.asarray(df[y_col])`` for ``class_mode="raw"``.
        outputs: ``df[col].tolist()`` per column for ``"multi_output"``.
        weights: ``np.asarray(df[weight_col])`` or ``None``.
    """

    x: list
    y: list | None = None
    raw: np.ndarray | None = None
    outputs: list[list] | None = None
    weights: np.ndarray | None = None


def _column(df, name) -> list:
    column = df[name]
    return column.tolist() if hasattr(column, "tolist") else list(column)


def _read_table(df, x_col, y_col, weight_col, class_mode) -> _Table:
    table = _Table(x=_column(df, x_col))
    if class_mode in _CLASS_MODES:
        table.y = _column(df, y_col)
    elif class_mode == "raw":
        table.raw = np.asarray(df[y_col])
    elif class_mode == "multi_output":
        table.outputs = [_column(df, c) for c in y_col]
    if weight_col is not None:
        table.weights = np.asarray(df[weight_col])
    return table


def _first_bad(values: list, ok) -> tuple[int, Any] | None:
    for row, value in enumerate(values):
        if not ok(value):
            return row, value
    return None


def _check_values(table: _Table, x_col, y_col, weight_col, classes, class_mode) -> None:
    """Keras's ``_check_params`` on the column values, with the offending value."""
    bad = _first_bad(table.x, lambda v: isinstance(v, str))
    if bad:
        raise TypeError(
            f"All values in column x_col={x_col} must be strings (file names or paths). "
            f"Received: {x_col}={bad[1]!r} at row {bad[0]}"
        )
    if class_mode in ("binary", "sparse"):
        bad = _first_bad(table.y, lambda v: isinstance(v, str))
        if bad:
            raise TypeError(
                f'If class_mode="{class_mode}", y_col="{y_col}" column values must be '
                f"strings. Received: {y_col}={bad[1]!r} at row {bad[0]}"
            )
    if class_mode == "binary":
        if classes:
            if len(set(classes)) != 2:
                raise ValueError(
                    'If class_mode="binary" there must be 2 classes. '
                    f"{len(set(classes))} class/es were given. "
                    + _validate.received("classes", classes)
                )
        elif len(set(table.y)) != 2:
            raise ValueError(
                'If class_mode="binary" there must be 2 classes. '
                f"Found {len(set(table.y))} classes in y_col={y_col!r}: "
                f"{sorted(set(table.y))[:10]}"
            )
    if class_mode == "categorical":
        bad = _first_bad(table.y, lambda v: isinstance(v, (str, list, tuple)))
        if bad:
            raise TypeError(
                f'If class_mode="categorical", y_col="{y_col}" column values must be '
                "type string, list or tuple (a list or tuple of classes: multi-label). "
                f"Received: {y_col}={bad[1]!r} at row {bad[0]}"
            )
    if classes and class_mode not in _CLASS_MODES:
        warnings.warn(
            f'`classes` will be ignored given the class_mode="{class_mode}"', stacklevel=4
        )
    if class_mode == "raw" and not _is_numeric(table.raw.dtype):
        raise TypeError(
            'class_mode="raw" needs numeric y_col values (bool, int or float columns); '
            'for string labels use class_mode="sparse" or "categorical". '
            + _validate.received("y_col", y_col) + f" with dtype {table.raw.dtype}"
        )
    if class_mode == "multi_output":
        for name, values in zip(y_col, table.outputs):
            try:
                array = np.array(values)
            except ValueError as err:  # ragged lists
                raise TypeError(
                    f'class_mode="multi_output" needs each y_col column to hold numbers or '
                    f"equal-length lists of numbers. Received: column {name!r} ({err})"
                ) from err
            if not _is_numeric(array.dtype):
                raise TypeError(
                    f'class_mode="multi_output" needs each y_col column to hold numbers or '
                    f"equal-length lists of numbers. Received: column {name!r} with dtype "
                    f"{array.dtype}"
                )
    if weight_col is not None and not issubclass(table.weights.dtype.type, np.number):
        raise TypeError(
            f"Column weight_col={weight_col} must be numeric. "
            f"Received: {weight_col} with dtype {table.weights.dtype}"
        )


def _is_numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biuf"


def _valid_filename(path: str, formats: tuple[str, ...]) -> bool:
    """Keras's ``validate_filename``: a white-listed extension and a file."""
    return path.lower().endswith(formats) and os.path.isfile(path)


def _filter_classes(ys: list, rows: list[int], classes) -> tuple[list[int], dict, list[str]]:
    """Keras's ``_filter_classes`` + ``get_classes`` on the kept rows.

    Returns the rows that still have a class, their label (a class index, or
    a list of them for list-valued ``y_col`` entries) by row, and the class
    names in index order (``classes`` order, else sorted).
    """
    if classes:
        names = list(collections.OrderedDict.fromkeys(classes))
        wanted = set(names)
        kept_values = {}
        for r in rows:
            value = ys[r]
            if isinstance(value, (list, tuple)):
                value = [c for c in value if c in wanted] or None
            elif value not in wanted:
                value = None
            if value is not None:
                kept_values[r] = value
    else:
        kept_values = {r: ys[r] for r in rows}
        found: set[str] = set()
        for value in kept_values.values():
            found.update(value) if isinstance(value, (list, tuple)) else found.add(value)
        names = sorted(found)
    index = {name: i for i, name in enumerate(names)}
    labels = {
        r: [index[c] for c in v] if isinstance(v, (list, tuple)) else index[v]
        for r, v in kept_values.items()
    }
    return [r for r in rows if r in labels], labels, names


def _targets(table: _Table, rows: list[int], class_mode, y_col):
    """Keras's ``_targets``: raw values or one array per output, for ``rows``."""
    if class_mode == "raw":
        return table.raw[rows]
    if class_mode == "multi_output":
        return [np.array([values[r] for r in rows]) for values in table.outputs]
    return None


def _validate_dataframe_args(
    dataframe, directory, image_data_generator, x_col, y_col, weight_col, target_size,
    color_mode, classes, class_mode, batch_size, shuffle, seed, data_format, subset,
    interpolation, keep_aspect_ratio, dtype, validate_filenames, fast, cache,
    deterministic, on_error, preflight,
) -> dict[str, Any]:
    """Checks every ``flow_from_dataframe`` argument before any file is touched."""
    from tfdirpipe import resize

    out: dict[str, Any] = {}
    columns = getattr(dataframe, "columns", None)
    if columns is None or not hasattr(dataframe, "__getitem__"):
        raise TypeError(
            "`dataframe` must be a pandas DataFrame (or any dataframe with `columns` and "
            "`df[name]` columns). " + _validate.received("dataframe", type(dataframe).__name__)
        )
    columns = list(columns)

    def column(name: str, value) -> None:
        if isinstance(value, (list, tuple, dict, set)) or value not in columns:
            raise ValueError(
                f"`{name}` must name a column of `dataframe` (columns: {columns[:20]}). "
                + _validate.received(name, value)
            )

    if class_mode not in DATAFRAME_CLASS_MODES:
        raise ValueError(
            "Invalid class_mode: expected one of 'categorical', 'binary', 'sparse', "
            "'input', 'multi_output', 'raw', None. " + _validate.received("class_mode", class_mode)
        )
    column("x_col", x_col)
    if class_mode == "multi_output":
        if not isinstance(y_col, list):
            raise TypeError(
                f'If class_mode="multi_output", y_col must be a list of column names, one '
                f"per model output. Received: y_col={y_col!r} ({type(y_col).__name__})"
            )
        for name in y_col:
            column("y_col", name)
    elif class_mode == "raw" and isinstance(y_col, list):
        for name in y_col:
            column("y_col", name)
    elif class_mode in (*_CLASS_MODES, "raw"):
        if isinstance(y_col, (list, tuple)):
            raise TypeError(
                f'If class_mode="{class_mode}", y_col must be one column name; a list of '
                'columns is for class_mode="raw" or "multi_output". '
                + _validate.received("y_col", y_col)
            )
        column("y_col", y_col)
    if weight_col is not None:
        column("weight_col", weight_col)
    if classes is not None and (
        isinstance(classes, (str, bytes)) or not all(isinstance(c, str) for c in classes)
    ):
        raise TypeError(
            "`classes` must be None or a list of class names (strings) from `y_col`. "
            + _validate.received("classes", classes)
        )
    out["target_size"] = _validate.size_pair("target_size", target_size)
    _validate.color_mode(color_mode)
    out["batch_size"] = _validate.positive_int("batch_size", batch_size)
    _validate.boolean("shuffle", shuffle)
    _validate.optional_seed("seed", seed)
    _validate.boolean("keep_aspect_ratio", keep_aspect_ratio)
    _validate.boolean("validate_filenames", validate_filenames)
    _validate.boolean("fast", fast)
    if deterministic is not None:
        _validate.boolean("deterministic", deterministic)
    _validate.one_of("on_error", on_error, _validate.ON_ERROR)
    if preflight is not None:
        _validate.boolean("preflight", preflight)
    resize.validate_interpolation(interpolation)
    out["data_format"] = _validate.data_format(data_format)
    out["dtype"] = _validate.float_dtype(dtype)
    cache_lib.validate_cache(cache)
    out["split"] = _validate.subset_split(subset, image_data_generator)
    out["directory"] = "" if directory is None else _validate.directory("directory", directory)
    return out
