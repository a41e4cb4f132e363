"""`ImageDataGenerator`'s normalization: rescale, centering, std, ZCA.

`standardize` is the per-batch step (TF ops, graph-safe, runs inside the
pipeline after augmentation); `fit_statistics` is Keras's ``fit()``: it
computes the featurewise mean, std and ZCA matrix once, with numpy, the
same operations in the same order as Keras so the values are identical.

Order and constants are Keras's (``keras/src/legacy/preprocessing/image.py``):
``rescale``, samplewise centering, samplewise std (``+ 1e-6``),
featurewise centering, featurewise std (``+ 1e-6``), ZCA. Samplewise
statistics are taken per image over all pixels and channels, as Keras's
iterators call ``standardize`` one image at a time.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate

DataFormat = Literal["channels_last", "channels_first"]

_EPSILON = 1e-6  # Keras's constant in the std divisions.

_NOT_FIT = (
    "This ImageDataGenerator specifies `{}`, but it hasn't been fit on any "
    "training data. Fit it first by calling `.fit(numpy_data)`."
)


@dataclasses.dataclass(frozen=True)
class StandardizeConfig:
    """The normalization arguments of ``ImageDataGenerator``, normalised.

    Keras's overrides are applied on construction, with Keras's warnings:
    ``zca_whitening`` turns on ``featurewise_center`` and turns off
    ``featurewise_std_normalization``; ``featurewise_std_normalization``
    turns on ``featurewise_center``; ``samplewise_std_normalization`` turns
    on ``samplewise_center``. ``rescale`` of 0 means no rescaling (Keras
    tests it for truth) and is stored as ``None``.

    Attributes:
        rescale: Factor multiplied into the images first, or ``None``.
        samplewise_center: Subtract each image's mean.
        samplewise_std_normalization: Divide each image by its std.
        featurewise_center: Subtract the dataset's per-channel mean.
        featurewise_std_normalization: Divide by the dataset's per-channel std.
        zca_whitening: Multiply flattened images by the ZCA matrix.
        zca_epsilon: Added to the singular values when computing ZCA.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument has a bad value.
    """

    rescale: float | None = None
    samplewise_center: bool = False
    samplewise_std_normalization: bool = False
    featurewise_center: bool = False
    featurewise_std_normalization: bool = False
    zca_whitening: bool = False
    zca_epsilon: float = 1e-6

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        for name in (
            "samplewise_center",
            "samplewise_std_normalization",
            "featurewise_center",
            "featurewise_std_normalization",
            "zca_whitening",
        ):
            set_(name, _validate.boolean(name, getattr(self, name)))
        set_("rescale", _rescale(self.rescale))
        set_("zca_epsilon", _zca_epsilon(self.zca_epsilon))
        # Keras's overrides, in Keras's order and words. Like Keras, every
        # test reads the arguments as passed, so zca_whitening together with
        # featurewise_std_normalization gives three warnings.
        center = self.featurewise_center
        std_normalization = self.featurewise_std_normalization
        if self.zca_whitening:
            if not center:
                set_("featurewise_center", True)
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening`, which "
                    "overrides setting of `featurewise_center`.",
                    stacklevel=3,
                )
            if std_normalization:
                set_("featurewise_std_normalization", False)
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening` which "
                    "overrides setting of`featurewise_std_normalization`.",
                    stacklevel=3,
                )
        if std_normalization and not center:
            set_("featurewise_center", True)
            warnings.warn(
                "This ImageDataGenerator specifies `featurewise_std_normalization`, "
                "which overrides setting of `featurewise_center`.",
                stacklevel=3,
            )
        if self.samplewise_std_normalization and not self.samplewise_center:
            set_("samplewise_center", True)
            warnings.warn(
                "This ImageDataGenerator specifies `samplewise_std_normalization`, "
                "which overrides setting of `samplewise_center`.",
                stacklevel=3,
            )

    @property
    def needs_fit(self) -> bool:
        """Whether `standardize` uses statistics from `fit_statistics`."""
        return self.featurewise_center or self.featurewise_std_normalization or self.zca_whitening

    @property
    def is_identity(self) -> bool:
        """Whether `standardize` returns its input unchanged."""
        return not (
            self.rescale
            or self.samplewise_center
            or self.samplewise_std_normalization
            or self.needs_fit
        )


def _rescale(value: Any) -> float | None:
    if value is None:
        return None
    message = "`rescale` must be None or a finite number. " + _validate.received("rescale", value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(message)
    if not math.isfinite(value):
        raise ValueError(message)
    return float(value) if value else None


def _zca_epsilon(value: Any) -> float:
    message = "`zca_epsilon` must be a non-negative number. " + _validate.received(
        "zca_epsilon", value
    )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(message)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(message)
    return float(value)


def _channel_axis(data_format: str) -> int:
    """Channel axis of a batch ``[B, ...]``."""
    return 1 if _validate.one_of("data_format", data_format, _validate.DATA_FORMATS) == (
        "channels_first"
    ) else 3


def _per_channel(stat: Any, data_format: str, dtype: tf.DType) -> tf.Tensor:
    """A mean/std as Keras stores it (``(1, 1, C)`` / ``(C, 1, 1)``) or ``[C]``."""
    stat = tf.cast(tf.convert_to_tensor(stat), dtype)
    if stat.shape.rank == 1:
        shape = [-1, 1, 1] if data_format == "channels_first" else [1, 1, -1]
        stat = tf.reshape(stat, shape)
    return stat


def standardize(
    config: StandardizeConfig,
    images: tf.Tensor,
    mean: Any = None,
    std: Any = None,
    zca_matrix: Any = None,
    data_format: DataFormat = "channels_last",
) -> tf.Tensor:
    """Normalizes a batch the way Keras's ``standardize`` does each image.

    Steps (each only if configured): ``x *= rescale``; ``x -= mean(x)`` and
    ``x /= std(x) + 1e-6`` per image; ``x -= mean``; ``x /= std + 1e-6``;
    ``x = flatten(x) @ zca_matrix``. When a featurewise step is configured
    but its statistic is ``None`` (``fit`` not called), the step is skipped
    with Keras's warning, issued when this function runs in Python: once
    per trace inside ``tf.data`` or ``tf.function``, not once per batch.

    Args:
        config: The normalization settings.
        images: Float tensor ``[B, H, W, C]`` (``[B, C, H, W]`` for
            ``channels_first``).
        mean: Per-channel mean from `fit_statistics` (Keras's
            ``(1, 1, C)`` / ``(C, 1, 1)`` array, or ``[C]``), or ``None``.
        std: Per-channel std, same forms, or ``None``.
        zca_matrix: ``[H*W*C, H*W*C]`` ZCA matrix, or ``None``.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A tensor with the shape, dtype and layout of ``images``.
    """
    _channel_axis(data_format)
    x = tf.convert_to_tensor(images)
    if not x.dtype.is_floating:
        raise TypeError(
            "`images` must be a floating-point tensor. "
            + _validate.received("images.dtype", x.dtype.name)
        )
    if x.shape.rank != 4:
        raise ValueError(
            "`images` must be a batch [B, H, W, C] or [B, C, H, W]. "
            + _validate.received("images.shape", x.shape)
        )
    axes = [1, 2, 3]
    if config.rescale:
        x = x * tf.cast(config.rescale, x.dtype)
    if config.samplewise_center:
        x = x - tf.reduce_mean(x, axis=axes, keepdims=True)
    if config.samplewise_std_normalization:
        x = x / (tf.math.reduce_std(x, axis=axes, keepdims=True) + _EPSILON)
    if config.featurewise_center:
        if mean is not None:
            x = x - _per_channel(mean, data_format, x.dtype)
        else:
            warnings.warn(_NOT_FIT.format("featurewise_center"), stacklevel=2)
    if config.featurewise_std_normalization:
        if std is not None:
            x = x / (_per_channel(std, data_format, x.dtype) + _EPSILON)
        else:
            warnings.warn(_NOT_FIT.format("featurewise_std_normalization"), stacklevel=2)
    if config.zca_whitening:
        if zca_matrix is not None:
            # Keras multiplies float32 images by its float64 matrix; so do we,
            # in the matrix's precision, then cast back.
            zca = tf.convert_to_tensor(zca_matrix)
            if not zca.dtype.is_floating:
                zca = tf.cast(zca, tf.float32)
            shape = tf.shape(x)
            flat = tf.cast(tf.reshape(x, [shape[0], -1]), zca.dtype)
            x = tf.cast(tf.reshape(flat @ zca, shape), x.dtype)
        else:
            warnings.warn(_NOT_FIT.format("zca_whitening"), stacklevel=2)
    return x


def _augmented(
    x: np.ndarray,
    augment_config: Any,
    rounds: int,
    seed: int | None,
    data_format: str,
    chunk: int = 64,
) -> np.ndarray:
    """``rounds`` augmented copies of ``x`` (round-major, as Keras stacks them)."""
    from tfdirpipe import augment as augment_lib

    rows, cols = (2, 3) if data_format == "channels_first" else (1, 2)
    base = augment_lib._seed_from(seed)
    out = np.zeros((rounds * len(x),) + x.shape[1:], dtype=x.dtype)
    for r in range(rounds):
        for start in range(0, len(x), chunk):
            batch = tf.constant(x[start : start + chunk])
            step = tf.random.experimental.stateless_fold_in(base, r * len(x) + start)
            params = augment_lib.sample_params(
                augment_config, step, batch.shape[0], x.shape[rows], x.shape[cols]
            )
            out[r * len(x) + start : r * len(x) + start + len(batch)] = augment_lib.apply(
                augment_config, batch, params, data_format
            ).numpy()
    return out


def fit_statistics(
    x: np.ndarray,
    config: StandardizeConfig,
    augment: bool = False,
    rounds: int = 1,
    seed: int | None = None,
    augment_config: Any = None,
    data_format: DataFormat = "channels_last",
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Keras's ``ImageDataGenerator.fit``: featurewise mean, std and ZCA.

    Same numpy operations in the same order as Keras (float32 copy,
    ``rescale``, optional augmentation, mean, centering, std, division,
    SVD of the flattened data), so the values equal Keras's. Augmentation
    uses `tfdirpipe.augment` with stateless seeds derived from ``seed``;
    its draws differ from numpy's, its distributions do not.

    Args:
        x: Sample data, rank 4, ``[N, H, W, C]`` (``[N, C, H, W]`` for
            ``channels_first``).
        config: The normalization settings.
        augment: Fit on randomly augmented copies of ``x``.
        rounds: Number of augmented copies when ``augment`` is True.
        seed: Seed of the augmentation (``None``: fresh entropy).
        augment_config: The `tfdirpipe.augment.AugmentConfig` used when
            ``augment`` is True.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        ``(mean, std, zca_matrix)``, each ``None`` unless configured:
        float32 ``mean`` and ``std`` of shape ``(1, 1, C)`` (``(C, 1, 1)``
        for ``channels_first``) and the float32 ``[H*W*C, H*W*C]`` matrix.

    Raises:
        ValueError: ``x`` is not rank 4, or ``rounds`` is not positive.
        TypeError: ``augment`` is True without an ``augment_config``.
    """
    channel_axis = _channel_axis(data_format)
    row_axis, col_axis = (2, 3) if data_format == "channels_first" else (1, 2)
    augment = _validate.boolean("augment", augment)
    rounds = _validate.positive_int("rounds", rounds)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(
            "Input to `.fit()` should have rank 4. Got array with shape: " + str(x.shape)
        )
    if x.shape[channel_axis] not in {1, 3, 4}:
        warnings.warn(
            "Expected input to be images (as Numpy array) following the data "
            f'format convention "{data_format}" (channels on axis {channel_axis}), '
            f"i.e. expected either 1, 3 or 4 channels on axis {channel_axis}. "
            f"However, it was passed an array with shape {x.shape} "
            f"({x.shape[channel_axis]} channels).",
            stacklevel=2,
        )
    x = np.copy(x)
    if config.rescale:
        x *= config.rescale
    if augment:
        if augment_config is None:
            raise TypeError(
                "`augment_config` must be an AugmentConfig when `augment=True`. "
                + _validate.received("augment_config", augment_config)
            )
        x = _augmented(x, augment_config, rounds, seed, data_format)

    mean = std = zca_matrix = None
    broadcast_shape = [1, 1, 1]
    broadcast_shape[channel_axis - 1] = x.shape[channel_axis]
    if config.featurewise_center:
        mean = np.reshape(np.mean(x, axis=(0, row_axis, col_axis)), broadcast_shape)
        x -= mean
    if config.featurewise_std_normalization:
        std = np.reshape(np.std(x, axis=(0, row_axis, col_axis)), broadcast_shape)
        x /= std + _EPSILON
    if config.zca_whitening:
        n = len(x)
        flat_x = np.reshape(x, (n, -1))
        u, s, _ = np.linalg.svd(flat_x.T, full_matrices=False)
        s_inv = np.sqrt(n) / (s + config.zca_epsilon)
        zca_matrix = (u * s_inv).dot(u.T)
    return mean, std, zca_matrix
