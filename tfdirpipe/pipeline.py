"""FileIndex + options -> `tf.data.Dataset`: the one place the graph is assembled.

Everything here is a pure function of tensors (graph-safe: it runs inside
``tf.data`` and on tf.data service workers; no ``py_function``). State lives
in the iterator facade, which passes ``seed`` and ``epoch`` in explicitly.

The graph of one epoch::

    epoch (scalar)  ->  order(seed, epoch): file indices  ->  parallel map:
    read + decode + resize (uint8, cached when asked)  ->  batch  ->
    batch map: cast, augment, standardize, label encoding  ->  prefetch
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.data.ops import dataset_ops, structured_function
from tensorflow.python.ops import gen_dataset_ops

from tfdirpipe import _validate
from tfdirpipe import decode as decode_lib
from tfdirpipe import exif as exif_lib
from tfdirpipe import resize as resize_lib

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class LoadSpec:
    """How one file becomes a uint8 ``[height, width, channels]`` image.

    Attributes:
        target_size: ``(height, width)`` of the output.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
        interpolation: Pillow filter name (see `resize.INTERPOLATIONS`).
        keep_aspect_ratio: Centre-crop to the target aspect ratio first,
            as Keras's ``keep_aspect_ratio``.
        fast: Decode JPEGs at reduced size in the DCT domain and resize with
            TF's resize: faster, pixels differ from Keras's.
        max_pixels: Refuse images whose header declares more pixels.
        exif_orientation: Turn images upright by their EXIF Orientation tag
            (JPEG, PNG, WebP) before cropping and resizing, as
            ``PIL.ImageOps.exif_transpose``; Keras does not (default off).
    """

    target_size: tuple[int, int]
    color_mode: str = "rgb"
    interpolation: str = "nearest"
    keep_aspect_ratio: bool = False
    fast: bool = False
    max_pixels: int | None = decode_lib.MAX_IMAGE_PIXELS
    exif_orientation: bool = False

    @property
    def channels(self) -> int:
        """Channels of the decoded image."""
        return _validate.COLOR_CHANNELS[self.color_mode]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one loaded image, channels last."""
        return (*self.target_size, self.channels)


def jpeg_ratio_for(height: tf.Tensor, width: tf.Tensor, target_size: tuple[int, int]) -> tf.Tensor:
    """Largest DCT scale in {1, 2, 4, 8} keeping the decode >= ``target_size``.

    ``decode_jpeg(ratio=r)`` yields ``ceil(dim / r)`` pixels per dimension;
    ``ceil(dim / r) >= t`` holds exactly when ``dim > r * (t - 1)``. A scale
    that fits implies every smaller one fits, so the count of fitting scales
    picks the ratio (a handful of ops: this runs once per image).
    """
    th, tw = target_size
    limits = tf.constant([[2 * (th - 1), 4 * (th - 1), 8 * (th - 1)],
                          [2 * (tw - 1), 4 * (tw - 1), 8 * (tw - 1)]], tf.int32)
    hw = tf.stack([tf.cast(height, tf.int32), tf.cast(width, tf.int32)])[:, None]
    fits = tf.reduce_sum(tf.cast(tf.reduce_all(hw > limits, axis=0), tf.int32))
    return tf.bitwise.left_shift(1, fits)


def _crop_box(height: tf.Tensor, width: tf.Tensor, target_size: tuple[int, int]):
    return resize_lib.keras_crop_box(height, width, target_size[0], target_size[1])


def load_image(path: tf.Tensor, spec: LoadSpec) -> tf.Tensor:
    """Reads, decodes and resizes one image file: uint8 ``spec.image_shape``.

    In the default mode the pixels are Keras's ``load_img`` pixels (Pillow
    decode, ``convert``, ``resize`` with the same filter and crop box).
    """
    contents = tf.io.read_file(path)
    orientation = exif_lib.exif_orientation(contents) if spec.exif_orientation else None
    image = decode_lib.decode_image(
        contents, spec.color_mode, filename=path, max_pixels=spec.max_pixels,
        jpeg_ratio=_jpeg_ratio(spec, orientation), dct_method=_dct_method(spec),
    )
    return _finish_image(image, spec, orientation)


def batch_loadable(spec: LoadSpec, batch_size: int) -> bool:
    """Whether `load_images` serves ``spec``: not for fast mode with EXIF
    orientation (its DCT ratio depends on each file's orientation), nor for
    batches over `MAX_UNROLLED_BATCH`."""
    return batch_size <= MAX_UNROLLED_BATCH and not (spec.fast and spec.exif_orientation)


def load_images(paths: tf.Tensor, spec: LoadSpec, batch_size: int) -> tf.Tensor:
    """`load_image` for a batch of ``1..batch_size`` files: uint8 ``[B, *spec.image_shape]``.

    The same pixels and errors as `load_image` file by file, in one map call
    (`decode_files`).
    """
    if not batch_loadable(spec, batch_size):
        raise ValueError(
            "load_images cannot serve fast mode with exif_orientation, or batches over "
            f"{MAX_UNROLLED_BATCH}. Received: spec={spec}, batch_size={batch_size}"
        )

    def finish(image: tf.Tensor, contents: tf.Tensor) -> tf.Tensor:
        orientation = exif_lib.exif_orientation(contents) if spec.exif_orientation else None
        return _finish_image(image, spec, orientation)

    return decode_files(
        paths, batch_size, finish, spec.color_mode, pad_size=spec.target_size,
        max_pixels=spec.max_pixels, jpeg_ratio=_jpeg_ratio(spec, None),
        dct_method=_dct_method(spec),
    )


def decode_files(
    paths: tf.Tensor,
    batch_size: int,
    finish: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    color_mode: str,
    pad_size: tuple[int, int],
    **decode_options: Any,
) -> tf.Tensor:
    """Reads ``1..batch_size`` files and `decode.decode_batch`-es them: ``[B, ...]``.

    The JPEG header checks run once for the whole batch. A short batch is
    padded to ``batch_size`` for tracing (its last path again); the padding
    is not decoded (black ``pad_size`` stand-ins) and is cut off.
    ``decode_options``: ``max_pixels``, ``jpeg_ratio``, ``dct_method``.
    """
    count = tf.shape(paths)[0]
    names = tf.unstack(tf.gather(paths, tf.minimum(tf.range(batch_size), count - 1)), num=batch_size)
    images = decode_lib.decode_batch(
        [tf.io.read_file(name) for name in names], finish, color_mode,
        filenames=names, count=count, pad_size=pad_size, **decode_options,
    )
    return images[:count]


def _dct_method(spec: LoadSpec) -> str:
    return "INTEGER_FAST" if spec.fast else "INTEGER_ACCURATE"


def _jpeg_ratio(spec: LoadSpec, orientation: tf.Tensor | None) -> Any:
    """1 (exact), or the fast mode's ``fn(height, width) -> ratio``."""
    if not spec.fast:
        return 1

    def ratio(height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
        # Called by the decoder with the JPEG frame header's size (no second
        # header parse). The crop and the DCT scale apply to the upright image.
        if orientation is not None:
            height, width = exif_lib.oriented_size(height, width, orientation)
        if spec.keep_aspect_ratio:
            x0, y0, x1, y1 = _crop_box(height, width, spec.target_size)
            return jpeg_ratio_for(y1 - y0, x1 - x0, spec.target_size)
        return jpeg_ratio_for(height, width, spec.target_size)

    return ratio


def _finish_image(image: tf.Tensor, spec: LoadSpec, orientation: tf.Tensor | None) -> tf.Tensor:
    """A decoded image upright (``orientation``), cropped and resized by ``spec``."""
    if orientation is not None:
        image = exif_lib.apply_orientation(image, orientation)
    if spec.fast:
        image = _resize_fast(image, spec)
    else:
        box = None
        if spec.keep_aspect_ratio:
            shape = tf.shape(image)
            box = _crop_box(shape[0], shape[1], spec.target_size)
        image = resize_lib.pil_resize(image, spec.target_size, spec.interpolation, box=box)
    return tf.ensure_shape(image, spec.image_shape)


def _resize_fast(image: tf.Tensor, spec: LoadSpec) -> tf.Tensor:
    """Fast mode's crop and resize of a DCT-scaled decode."""
    if spec.keep_aspect_ratio:
        shape = tf.shape(image)
        x0, y0, x1, y1 = _crop_box(shape[0], shape[1], spec.target_size)
        image = image[y0:y1, x0:x1]
    if spec.interpolation == "nearest":
        return resize_lib.nearest_resize(image, spec.target_size)
    # After the DCT scaling the image is less than twice the target size
    # (unless even 1/8 was not enough): plain bilinear, whose 2x2 taps cover
    # such a step, costs ~0.3 ms at 224 px; the antialiased kernel (~1.5 ms)
    # runs only for the larger steps it is needed for.
    shape = tf.shape(image)
    steep = tf.reduce_any(shape[:2] >= 2 * tf.constant(spec.target_size, tf.int32))
    resized = tf.cond(
        steep,
        lambda: tf.image.resize(image, spec.target_size, method="bilinear", antialias=True),
        lambda: tf.image.resize(image, spec.target_size, method="bilinear"),
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def encode_labels(
    labels: tf.Tensor, class_mode: str | None, num_classes: int, dtype: str
) -> tf.Tensor | None:
    """Integer class indices -> the targets of ``class_mode`` (``None`` for none)."""
    if class_mode == "categorical":
        return tf.one_hot(labels, num_classes, dtype=dtype)
    if class_mode in ("binary", "sparse"):
        return tf.cast(labels, dtype)
    return None


def keras_first_order(n: int, seed: int) -> np.ndarray:
    """The legacy iterator's first-epoch order for ``seed``.

    Keras seeds numpy's global RNG with ``seed + total_batches_seen`` (0 at
    the first batch) and draws ``np.random.permutation(n)``; a private
    ``RandomState(seed)`` draws the same numbers without touching global
    state.
    """
    return np.random.RandomState(seed).permutation(n).astype(np.int64)


def epoch_order(
    n: int, shuffle: bool, seed: int, epoch: tf.Tensor, first: np.ndarray | None = None
) -> tf.Tensor:
    """File indices of ``epoch``: int64 ``[n]``, a pure function of (seed, epoch).

    Epoch 0 uses ``first`` when given (Keras's order); later epochs use a
    stateless shuffle seeded with ``(seed, epoch)``.
    """
    indices = tf.range(n, dtype=tf.int64)
    if not shuffle:
        return indices
    shuffled = tf.random.experimental.stateless_shuffle(
        indices, seed=tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    )
    if first is None:
        return shuffled
    return tf.cond(tf.equal(epoch, 0), lambda: tf.constant(first), lambda: shuffled)


@dataclasses.dataclass(frozen=True)
class BatchSpec:
    """What happens to a batch of uint8 images and integer labels.

    Attributes:
        batch_size: Images per batch (the last one may be smaller).
        class_mode: Keras's ``class_mode`` (``"input"`` returns ``(x, x)``).
        num_classes: Number of classes, for one-hot targets.
        dtype: Output dtype of images and numeric targets.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        transform: ``fn(images_float, seed[2]) -> images`` applied to the
            float32 batch in ``data_format`` layout (augmentation +
            standardization), or ``None``.
        deferred: Images leave as uint8 in ``data_format`` layout, without
            ``transform``: a `tfdirpipe.DeviceStage` in the model applies it
            on the model's device (targets are still ``dtype``).
        scale: Factor applied while the uint8 batch becomes float32, before
            ``transform`` (a leading ``rescale``; see `to_float`), or ``None``.
    """

    batch_size: int
    class_mode: str | None
    num_classes: int
    dtype: str = "float32"
    data_format: str = "channels_last"
    transform: Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None = None
    deferred: bool = False
    scale: float | None = None


@functools.lru_cache(maxsize=None)
def _dequantize_is_exact(scale: float) -> bool:
    """Whether TF's ``Dequantize`` gives ``float32(v) * float32(scale)`` for every byte v."""
    if not (math.isfinite(scale) and scale > 0):
        return False
    with tf.init_scope():  # measured eagerly, once per scale, even while tracing
        values = np.arange(256, dtype=np.uint8)
        want = values.astype(np.float32) * np.float32(scale)
        got = _dequantize(tf.constant(values), scale).numpy()
    return bool(np.array_equal(got.view(np.uint32), want.view(np.uint32)))


def _dequantize(images: tf.Tensor, scale: float) -> tf.Tensor:
    top = float(np.float32(scale) * np.float32(255))
    return tf.raw_ops.Dequantize(
        input=tf.bitcast(images, tf.quint8), min_range=0.0, max_range=top, mode="MIN_COMBINED"
    )


def to_float(images: tf.Tensor, scale: float | None = None) -> tf.Tensor:
    """uint8 images -> float32, times ``scale`` if given (Keras's ``x *= rescale``).

    ``tf.cast(images, tf.float32) * float32(scale)``, bit for bit, in one
    pass over the batch where TensorFlow's ``Dequantize`` computes exactly
    that (checked for all 256 values once per scale), else in two.
    """
    if scale is None:
        return tf.cast(images, tf.float32)
    if _dequantize_is_exact(float(scale)):
        return _dequantize(images, float(scale))
    return tf.cast(images, tf.float32) * tf.constant(scale, tf.float32)


def finish_batch(
    images: tf.Tensor, labels: tf.Tensor, batch_seed: tf.Tensor, spec: BatchSpec
):
    """uint8 NHWC batch + int labels -> the iterator's output structure."""
    x = images if spec.deferred else to_float(images, spec.scale)
    if spec.data_format == "channels_first":
        x = tf.transpose(x, (0, 3, 1, 2))
    if spec.deferred:
        y = encode_labels(labels, spec.class_mode, spec.num_classes, spec.dtype)
        return x if y is None else (x, y)
    if spec.transform is not None:
        x = spec.transform(x, batch_seed)
    x = tf.cast(x, spec.dtype)
    if spec.class_mode == "input":
        return x, tf.identity(x)
    y = encode_labels(labels, spec.class_mode, spec.num_classes, spec.dtype)
    if y is None:
        return x
    return x, y


def batch_seed(seed: int, epoch: tf.Tensor, batch_index: tf.Tensor) -> tf.Tensor:
    """Seed of one batch's random transforms: a function of (seed, epoch, batch)."""
    mixed = tf.cast(epoch, tf.int64) * 1_000_003 + tf.cast(batch_index, tf.int64)
    return tf.stack([tf.constant(seed, tf.int64), mixed])


def batches_from_indices(
    indices: tf.data.Dataset,
    load: Callable[[tf.Tensor], Any],
    finish: Callable[[Any, tf.Tensor], Any],
    seed: int,
    epoch: tf.Tensor,
    first_batch: int | tf.Tensor,
    batch_size: int,
    deterministic: bool,
) -> tf.data.Dataset:
    """A dataset of sample indices -> finished batches.

    Args:
        indices: int64 sample indices in the order they are to be read.
        load: ``fn(index) -> element`` for one sample (e.g. decode + resize,
            maybe cached, and its label).
        finish: ``fn(batched_elements, batch_seed) -> output`` for a batch.
        seed: The iterator's seed.
        epoch: The epoch these indices belong to (for augmentation seeds).
        first_batch: Position of the first batch in the epoch.
        batch_size: Elements per batch.
        deterministic: Whether the parallel maps keep element order.
    """
    ds, unpack = map_and_batch(indices, load, batch_size, deterministic)
    ds = ds.enumerate(start=tf.cast(first_batch, tf.int64))
    return parallel_map(
        ds, lambda b, batch: finish(unpack(batch), batch_seed(seed, epoch, b)), deterministic
    )


def dataset_options(deterministic: bool | None) -> tf.data.Options:
    """tf.data options tuned for image decoding pipelines."""
    options = tf.data.Options()
    options.autotune.enabled = True
    options.experimental_optimization.map_parallelization = True
    options.experimental_optimization.parallel_batch = True
    if deterministic is not None:
        options.deterministic = deterministic
    return options


class _LeanParallelMap(dataset_ops.UnaryDataset):
    """A parallel map whose function tf.data instantiates without Grappler.

    tf.data instantiates a map function afresh for every iterator (every
    epoch) and, for the "multi-device" functions it assumes by default, runs
    Grappler over it and every function it can reach. For the decoder
    (thousands of nodes in rarely taken branches) that costs ~0.35 CPU-s per
    iterator on a 2-core machine, ~25% of a 2,000-image epoch. The
    ``experimental_ints_on_device`` function attribute makes tf.data
    instantiate it as a single-device function instead (its own effect,
    int32 kept in device memory, is moot on the CPU where tf.data functions
    run): ~20 ms, same cost per element. tf.data's graph rewrites expect such
    a function to have one output, so `parallel_map` packs the outputs into
    one optional (a variant) and unpacks them in a tiny map after it.
    """

    def __init__(self, input_dataset, map_func, deterministic: bool | None):
        self._input_dataset = input_dataset
        self._name = None
        self._map_func = structured_function.StructuredFunctionWrapper(
            map_func,
            "Dataset.map()",
            dataset=input_dataset,
            defun_kwargs={"experimental_ints_on_device": True},
        )
        variant = gen_dataset_ops.parallel_map_dataset_v2(
            input_dataset._variant_tensor,  # noqa: SLF001
            self._map_func.function.captured_inputs,
            f=self._map_func.function,
            num_parallel_calls=tf.constant(AUTOTUNE, tf.int64),
            deterministic={None: "default", True: "true", False: "false"}[deterministic],
            preserve_cardinality=True,
            **self._common_args,
        )
        super().__init__(input_dataset, variant)

    def _functions(self):
        return [self._map_func]

    @property
    def element_spec(self):
        return self._map_func.output_structure


def _packed(fn: Callable[..., Any], traced: dict[str, Any]) -> Callable[..., tf.Tensor]:
    """``fn`` with its outputs packed into one optional (see `_LeanParallelMap`)."""

    def packed(*args):
        out = fn(*args)
        flat = tf.nest.flatten(out)
        if not flat or not all(isinstance(t, tf.Tensor) for t in flat):
            raise TypeError("parallel_map packs dense tensors only")
        traced["structure"] = out
        traced["types"] = [t.dtype for t in flat]
        traced["shapes"] = [t.shape for t in flat]
        return tf.raw_ops.OptionalFromValue(components=flat)

    return packed


def _unpacked(optional: tf.Tensor, traced: dict[str, Any]) -> list[tf.Tensor]:
    flat = tf.raw_ops.OptionalGetValue(
        optional=optional, output_types=traced["types"], output_shapes=traced["shapes"]
    )
    for t, shape in zip(flat, traced["shapes"]):
        t.set_shape(shape)
    return flat


def parallel_map(
    ds: tf.data.Dataset, fn: Callable[..., Any], deterministic: bool | None = None
) -> tf.data.Dataset:
    """``ds.map(fn, num_parallel_calls=AUTOTUNE, deterministic=...)``, cheap to start.

    Same elements and semantics as the public call (``fn`` must return dense
    tensors); see `_LeanParallelMap` for why. Falls back to the public
    ``Dataset.map`` if TensorFlow's private dataset classes change shape.
    """
    traced: dict[str, Any] = {}
    try:
        lean = _LeanParallelMap(ds, _packed(fn, traced), deterministic)
    except (AttributeError, TypeError, ImportError):  # private API moved: only slower
        return ds.map(fn, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return lean.map(
        lambda optional: tf.nest.pack_sequence_as(
            traced["structure"], _unpacked(optional, traced)
        )
    )


# Batches up to this size are handled by graphs unrolled over the batch (a few
# ops per element); larger ones by per-element maps.
MAX_UNROLLED_BATCH = 256


def map_and_batch(
    ds: tf.data.Dataset,
    fn: Callable[..., Any],
    batch_size: int,
    deterministic: bool | None = None,
) -> tuple[tf.data.Dataset, Callable[[Any], Any]]:
    """``parallel_map(ds, fn).batch(batch_size)``, unpacked by the next stage.

    `parallel_map` unpacks each element's optional in a sequential map of its
    own, ~25 us per element. Here the optionals are batched as they are and
    ``unpack`` opens a whole batch inside the caller's next map (one op per
    element, then a stack that replaces the batch's own copy).

    Returns:
        ``(dataset, unpack)``: the dataset's elements are opaque batches;
        ``unpack(element)`` (called in a later map) gives ``fn``'s structure
        with a leading batch dimension, as ``.batch`` would.
    """
    def plain() -> tuple[tf.data.Dataset, Callable[[Any], Any]]:  # only slower
        mapped = ds.map(fn, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
        return mapped.batch(batch_size), lambda batch: batch

    if batch_size > MAX_UNROLLED_BATCH:
        return plain()
    traced: dict[str, Any] = {}
    try:
        lean = _LeanParallelMap(ds, _packed(fn, traced), deterministic)
    except (AttributeError, TypeError, ImportError):  # private API moved
        return plain()

    def unpack(optionals: tf.Tensor) -> Any:
        # Pad a short (last) batch by repeating its last element, unpack a
        # full batch, then cut back (a no-op slice when nothing was padded).
        n = tf.shape(optionals)[0]
        optionals = tf.gather(optionals, tf.minimum(tf.range(batch_size), n - 1))
        rows = [_unpacked(optionals[k], traced) for k in range(batch_size)]
        columns = [tf.stack(list(column))[:n] for column in zip(*rows)]
        return tf.nest.pack_sequence_as(traced["structure"], columns)

    return lean.batch(batch_size), unpack
