"""`ImageDataGenerator`'s random transforms as batched, stateless TF ops.

Two steps, kept apart (as in Keras's ``image_preprocessing`` layers):

* `sample_params` draws the per-image parameters of a batch from a
  ``[2]`` seed with stateless random ops. The result has the keys of Keras's
  ``get_random_transform`` dict, each a ``[B]`` tensor.
* `apply` applies them to a ``[B, H, W, C]`` (or ``[B, C, H, W]``) float
  batch: rotation, shift, shear and zoom composed into one matrix per image
  and resampled in one ``ImageProjectiveTransformV3`` op (flips folded
  into the same matrix), then channel shift and brightness, in Keras's order.

Both are graph-safe (no ``py_function``, no numpy at run time, no global
RNG), so they run inside ``tf.data`` maps, on tf.data service workers and on
GPU. `apply_transform_single` and `get_random_transform_single` are the
per-image, Keras-dict versions behind ``ImageDataGenerator.apply_transform``
and ``get_random_transform``.

What is reproduced from ``keras/src/legacy/preprocessing/image.py``
(Keras 3), quirks included:

* Shift ranges: a float is a fraction of the side if ``< 1`` and pixels
  otherwise (uniform in ``[-r, r)``); an int ``n`` draws an integer in
  ``[0, n)`` pixels with a random sign; a sequence draws one of its values
  with a random sign, in pixels unless its maximum is ``< 1``.
* Axes: Keras 3 builds the matrix in ``(x, y)`` = ``(column, row)`` order
  but feeds it ``tx`` (drawn from ``height_shift_range`` and scaled by the
  height) as the column shift, ``ty`` (from ``width_shift_range``, scaled by
  the width) as the row shift, and centres the matrix on
  ``(column, row) = (h / 2 - 0.5, w / 2 - 0.5)``. So ``height_shift_range``
  moves images sideways, and on non-square images rotation, shear and zoom
  turn about a point off the centre. We keep this so that results equal
  Keras's; Keras's ``zx`` scales columns and ``zy`` rows.
* ``fill_mode`` follows ``scipy.ndimage``: ``"constant"`` gives ``cval``
  wherever the source point lies outside ``[0, n - 1]`` (no blending at the
  edge, unlike TF's op, so a mask is applied); ``"wrap"`` repeats with
  period ``n - 1``, which TF's op cannot express, so that mode is resampled
  with gathers instead of the projective op. ``"nearest"`` and
  ``"reflect"`` match TF's op as is.
* ``interpolation_order`` 0 and 1 (nearest, bilinear) are supported; scipy's
  spline orders 2 to 5 raise `NotImplementedError`.
* Brightness goes through Keras's 8-bit round trip: the image is scaled to
  ``[0, 255]`` only if it has values outside that range, truncated to
  uint8, multiplied by the factor with PIL's float32 arithmetic and
  truncation (alpha kept for 4 channels), and scaled back. Images in
  ``[0, 1]`` therefore come out as 0s and 1s, as in Keras. Keras's own code
  uses the global data format here and fails for ``channels_first``; we
  apply the intended per-channel operation.
* Channel shift adds one intensity to every channel and clips to the
  image's own min and max.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate

FILL_MODES: tuple[str, ...] = ("constant", "nearest", "reflect", "wrap")
"""Allowed ``fill_mode`` values, in the order error messages list them."""

DataFormat = Literal["channels_last", "channels_first"]
FillMode = Literal["constant", "nearest", "reflect", "wrap"]
ShiftRange = Union[float, int, tuple[float, ...]]

PARAM_KEYS: tuple[str, ...] = (
    "theta",
    "tx",
    "ty",
    "shear",
    "zx",
    "zy",
    "flip_horizontal",
    "flip_vertical",
    "channel_shift_intensity",
    "brightness",
)
"""Keys of the parameter dicts, the same as Keras's ``get_random_transform``."""

# One seed slot per random quantity, fixed, so that enabling one transform
# never changes the draws of another. Append only: the order is part of the
# seed -> parameters contract.
_SEED_SLOTS: tuple[str, ...] = (
    "theta",
    "tx",
    "tx_sign",
    "ty",
    "ty_sign",
    "shear",
    "zx",
    "zy",
    "flip_horizontal",
    "flip_vertical",
    "channel_shift_intensity",
    "brightness",
)


# -- configuration ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """The augmentation arguments of ``ImageDataGenerator``, normalised.

    Values are normalised the way Keras normalises them: ``zoom_range=z``
    becomes ``(1 - z, 1 + z)``; shift ranges keep their form (float, int or
    a tuple of choices) because the form decides the distribution.

    Attributes:
        rotation_range: Degrees; ``theta`` is uniform in ``[-r, r)``.
        width_shift_range: float (fraction of the width if ``< 1``, else
            pixels), int ``n`` (integer pixels in ``(-n, n)``) or a tuple of
            choices (pixels unless all are ``< 1``). Drives ``ty``.
        height_shift_range: Same forms, for the height. Drives ``tx``.
        brightness_range: ``(lo, hi)`` brightness factors, or ``None``.
        shear_range: Degrees; ``shear`` is uniform in ``[-r, r)``.
        zoom_range: ``(lo, hi)``; ``zx`` and ``zy`` are drawn independently
            (both 1 when the range is ``(1, 1)``).
        channel_shift_range: ``channel_shift_intensity`` is uniform in
            ``[-r, r)``.
        fill_mode: ``"constant"``, ``"nearest"``, ``"reflect"`` or ``"wrap"``
            (scipy's meanings).
        cval: Value outside the image for ``fill_mode="constant"``.
        horizontal_flip: Flip columns with probability 0.5.
        vertical_flip: Flip rows with probability 0.5.
        interpolation_order: 0 (nearest) or 1 (bilinear).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument has a bad value.
        NotImplementedError: ``interpolation_order`` is 2 to 5.
    """

    rotation_range: float = 0.0
    width_shift_range: ShiftRange = 0.0
    height_shift_range: ShiftRange = 0.0
    brightness_range: tuple[float, float] | None = None
    shear_range: float = 0.0
    zoom_range: tuple[float, float] = (1.0, 1.0)
    channel_shift_range: float = 0.0
    fill_mode: FillMode = "nearest"
    cval: float = 0.0
    horizontal_flip: bool = False
    vertical_flip: bool = False
    interpolation_order: int = 1

    def __post_init__(self) -> None:
        normalised = {
            "rotation_range": _non_negative("rotation_range", self.rotation_range, "degrees"),
            "width_shift_range": _shift_range("width_shift_range", self.width_shift_range, "width"),
            "height_shift_range": _shift_range(
                "height_shift_range", self.height_shift_range, "height"
            ),
            "brightness_range": _brightness_range(self.brightness_range),
            "shear_range": _non_negative("shear_range", self.shear_range, "degrees"),
            "zoom_range": _zoom_range(self.zoom_range),
            "channel_shift_range": _non_negative(
                "channel_shift_range", self.channel_shift_range, "intensity"
            ),
            "fill_mode": _fill_mode(self.fill_mode),
            "cval": _finite("cval", self.cval),
            "horizontal_flip": _flag("horizontal_flip", self.horizontal_flip),
            "vertical_flip": _flag("vertical_flip", self.vertical_flip),
            "interpolation_order": _interpolation_order(self.interpolation_order),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

    @property
    def has_affine(self) -> bool:
        """Whether rotation, shift, shear or zoom can move pixels."""
        return bool(
            self.rotation_range
            or _shift_enabled(self.width_shift_range)
            or _shift_enabled(self.height_shift_range)
            or self.shear_range
            or self.zoom_range != (1.0, 1.0)
        )

    @property
    def is_identity(self) -> bool:
        """Whether `apply` returns its input unchanged for every draw."""
        return not (
            self.has_affine
            or self.channel_shift_range
            or self.horizontal_flip
            or self.vertical_flip
            or self.brightness_range is not None
        )


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _non_negative(name: str, value: Any, unit: str) -> float:
    if not _is_real(value):
        raise TypeError(
            f"`{name}` must be a non-negative number ({unit}). " + _validate.received(name, value)
        )
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(
            f"`{name}` must be a non-negative number ({unit}). " + _validate.received(name, value)
        )
    return float(value)


def _finite(name: str, value: Any) -> float:
    if not _is_real(value):
        raise TypeError(f"`{name}` must be a finite number. " + _validate.received(name, value))
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number. " + _validate.received(name, value))
    return float(value)


def _flag(name: str, value: Any) -> bool:
    # Keras multiplies by the flag, so 0 and 1 work there too.
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return _validate.boolean(name, value)


def _shift_range(name: str, value: Any, side: str) -> ShiftRange:
    message = (
        f"`{name}` must be a non-negative float (a fraction of the {side} if < 1, "
        "else pixels), a non-negative int (integer pixels), or a sequence of "
        "non-negative numbers to choose from. " + _validate.received(name, value)
    )
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(message)
        value = value.tolist()
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(message)
    if isinstance(value, numbers.Integral):
        if value < 0:
            raise ValueError(message)
        return int(value)
    if isinstance(value, numbers.Real):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(message)
        return float(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(message)
    if not value:  # Keras: an empty list is falsy, so no shift.
        return 0.0
    if not all(_is_real(v) for v in value):
        raise TypeError(message)
    if not all(math.isfinite(v) and v >= 0 for v in value):
        raise ValueError(message)
    return tuple(float(v) for v in value)


def _shift_enabled(spec: ShiftRange) -> bool:
    if isinstance(spec, tuple):
        return any(spec)
    return bool(spec)


def _zoom_range(value: Any) -> tuple[float, float]:
    message = (
        "`zoom_range` must be a float z in [0, 1] (zoom in [1 - z, 1 + z]) or a "
        "pair (lower, upper) of non-negative numbers. " + _validate.received("zoom_range", value)
    )
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if _is_real(value):
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(message)
        return (1.0 - float(value), 1.0 + float(value))
    if isinstance(value, (str, bytes, bool, np.bool_)) or not isinstance(value, Sequence):
        raise TypeError(message)
    if len(value) != 2:
        raise ValueError(message)
    if not all(_is_real(v) for v in value):
        raise TypeError(message)
    if not all(math.isfinite(v) and v >= 0 for v in value):
        raise ValueError(message)
    return (float(value[0]), float(value[1]))


def _brightness_range(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    message = (
        "`brightness_range` must be None or a pair (lower, upper) of non-negative "
        "brightness factors. " + _validate.received("brightness_range", value)
    )
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(message)
    if len(value) != 2:
        raise ValueError(message)
    if not all(_is_real(v) for v in value):
        raise TypeError(message)
    if not all(math.isfinite(v) and v >= 0 for v in value):
        raise ValueError(message)
    return (float(value[0]), float(value[1]))


def _fill_mode(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(
            "`fill_mode` must be one of 'constant', 'nearest', 'reflect', 'wrap'. "
            + _validate.received("fill_mode", value)
        )
    return _validate.one_of("fill_mode", value, FILL_MODES)


def _interpolation_order(value: Any) -> int:
    message = (
        "`interpolation_order` must be 0 (nearest) or 1 (bilinear). "
        + _validate.received("interpolation_order", value)
    )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(message)
    if 2 <= value <= 5:
        raise NotImplementedError(
            "`interpolation_order` 2 to 5 (scipy spline interpolation) is not "
            "available as a TF op; use interpolation_order=1 (bilinear) or 0 "
            "(nearest). " + _validate.received("interpolation_order", value)
        )
    if value not in (0, 1):
        raise ValueError(message)
    return int(value)


def _data_format(value: Any) -> str:
    return _validate.one_of("data_format", value, _validate.DATA_FORMATS)


# -- sampling --------------------------------------------------------------


def _as_seed(seed: Any) -> tf.Tensor:
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        raise TypeError(
            "`seed` must be an int32 or int64 tensor of shape [2]. "
            + _validate.received("seed", seed)
        )
    if seed.shape.rank is not None and seed.shape.as_list() != [2]:
        raise ValueError(
            "`seed` must be an int32 or int64 tensor of shape [2]. "
            + _validate.received("seed", seed)
        )
    return tf.cast(seed, tf.int64)


def _uniform(seed: tf.Tensor, shape: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """``low + (high - low) * U[0, 1)``: numpy's formula, so ``low > high`` works."""
    u = tf.random.stateless_uniform(shape, seed, dtype=tf.float64)
    return low + (high - low) * u


def _random_sign(seed: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    bit = tf.random.stateless_uniform(shape, seed, minval=0, maxval=2, dtype=tf.int64)
    return tf.cast(2 * bit - 1, tf.float64)


def _sample_shift(
    spec: ShiftRange, seed: tf.Tensor, sign_seed: tf.Tensor, shape: tf.Tensor, side: tf.Tensor
) -> tf.Tensor:
    """One of Keras's three shift forms, in pixels, float64 ``[B]``."""
    if not _shift_enabled(spec):
        return tf.zeros(shape, tf.float64)
    if isinstance(spec, float):
        value = _uniform(seed, shape, -spec, spec)
        in_pixels = spec >= 1
    elif isinstance(spec, int):
        steps = tf.random.stateless_uniform(shape, seed, minval=0, maxval=spec, dtype=tf.int64)
        value = tf.cast(steps, tf.float64) * _random_sign(sign_seed, shape)
        in_pixels = True
    else:
        index = tf.random.stateless_uniform(
            shape, seed, minval=0, maxval=len(spec), dtype=tf.int64
        )
        value = tf.gather(tf.constant(spec, tf.float64), index) * _random_sign(sign_seed, shape)
        in_pixels = max(spec) >= 1
    if not in_pixels:
        value = value * tf.cast(side, tf.float64)
    return value


def sample_params(
    config: AugmentConfig,
    seed: tf.Tensor,
    batch_size: int | tf.Tensor,
    image_height: int | tf.Tensor,
    image_width: int | tf.Tensor,
) -> dict[str, tf.Tensor]:
    """Draws per-image transform parameters for a batch, statelessly.

    The distributions are Keras's ``get_random_transform``'s: ``theta``,
    ``shear``, ``channel_shift_intensity`` uniform in ``[-r, r)``; ``tx``
    from ``height_shift_range`` and ``ty`` from ``width_shift_range`` (see
    `AugmentConfig`); ``zx`` and ``zy`` independent uniforms over
    ``zoom_range``; each flip with probability 0.5; ``brightness`` uniform
    over ``brightness_range``. Each quantity has its own seed slot, so
    enabling one transform leaves the draws of the others unchanged.

    Args:
        config: The augmentation settings.
        seed: int32 or int64 ``[2]`` tensor; the same seed gives the same
            parameters.
        batch_size: ``B``, a Python int or scalar int tensor.
        image_height: ``H`` in pixels (scales fractional ``height_shift_range``).
        image_width: ``W`` in pixels (scales fractional ``width_shift_range``).

    Returns:
        A dict with the keys of `PARAM_KEYS`, each a ``[B]`` tensor: float32
        for the numbers, bool for the flips. Disabled transforms hold their
        neutral value (0, or 1 for ``zx``, ``zy`` and ``brightness``);
        `apply` decides from ``config`` which stages to run.
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(_as_seed(seed), len(_SEED_SLOTS)))
    slot = dict(zip(_SEED_SLOTS, seeds))
    shape = tf.reshape(tf.cast(batch_size, tf.int32), [1])
    zeros = tf.zeros(shape, tf.float64)
    ones = tf.ones(shape, tf.float64)

    def uniform_or(value: float, name: str, low: float, high: float) -> tf.Tensor:
        return _uniform(slot[name], shape, low, high) if value else zeros

    params: dict[str, tf.Tensor] = {
        "theta": uniform_or(
            config.rotation_range, "theta", -config.rotation_range, config.rotation_range
        ),
        "tx": _sample_shift(
            config.height_shift_range, slot["tx"], slot["tx_sign"], shape, image_height
        ),
        "ty": _sample_shift(
            config.width_shift_range, slot["ty"], slot["ty_sign"], shape, image_width
        ),
        "shear": uniform_or(config.shear_range, "shear", -config.shear_range, config.shear_range),
        "channel_shift_intensity": uniform_or(
            config.channel_shift_range,
            "channel_shift_intensity",
            -config.channel_shift_range,
            config.channel_shift_range,
        ),
    }
    low, high = config.zoom_range
    if (low, high) == (1.0, 1.0):
        params["zx"], params["zy"] = ones, ones
    else:
        params["zx"] = _uniform(slot["zx"], shape, low, high)
        params["zy"] = _uniform(slot["zy"], shape, low, high)
    if config.brightness_range is None:
        params["brightness"] = ones
    else:
        params["brightness"] = _uniform(slot["brightness"], shape, *config.brightness_range)
    params = {key: tf.cast(value, tf.float32) for key, value in params.items()}
    for key, enabled in (
        ("flip_horizontal", config.horizontal_flip),
        ("flip_vertical", config.vertical_flip),
    ):
        if enabled:
            params[key] = tf.random.stateless_uniform(shape, slot[key], dtype=tf.float64) < 0.5
        else:
            params[key] = tf.zeros(shape, tf.bool)
    return {key: params[key] for key in PARAM_KEYS}


def _seed_from(seed: Any) -> tf.Tensor:
    """``None`` -> fresh OS entropy; int -> ``[seed, 0]``; else a ``[2]`` seed."""
    if seed is None:
        return tf.constant([secrets.randbits(63), secrets.randbits(63)], tf.int64)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        if not -(2**63) <= seed < 2**63:
            raise ValueError(
                "`seed` must be None, an int64 int, or a [2] int tensor. "
                + _validate.received("seed", seed)
            )
        return tf.constant([int(seed), 0], tf.int64)
    return _as_seed(seed)


def _image_hw(img_shape: Sequence[int], data_format: str) -> tuple[int, int]:
    if len(img_shape) != 3:
        raise ValueError(
            "`img_shape` must be the shape of one image: (height, width, channels) "
            "or (channels, height, width). " + _validate.received("img_shape", img_shape)
        )
    if data_format == "channels_first":
        return int(img_shape[1]), int(img_shape[2])
    return int(img_shape[0]), int(img_shape[1])


def get_random_transform_single(
    config: AugmentConfig,
    img_shape: Sequence[int],
    seed: int | tf.Tensor | None = None,
    data_format: DataFormat = "channels_last",
) -> dict[str, Any]:
    """Keras's ``get_random_transform`` for one image, drawn statelessly.

    Args:
        config: The augmentation settings.
        img_shape: Shape of the image, ``(H, W, C)`` or ``(C, H, W)``.
        seed: ``None`` (fresh OS entropy, no global RNG touched), an int
            (used as the stateless seed ``[seed, 0]``) or a ``[2]`` tensor.
            The values differ from numpy's for the same int; the
            distributions are the same.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A dict with Keras's keys: floats ``theta``, ``tx``, ``ty``,
        ``shear``, ``zx``, ``zy``; bools ``flip_horizontal``,
        ``flip_vertical``; ``channel_shift_intensity`` and ``brightness``
        as floats, or ``None`` when disabled (as Keras returns them).
    """
    height, width = _image_hw(img_shape, _data_format(data_format))
    params = sample_params(config, _seed_from(seed), 1, height, width)
    out: dict[str, Any] = {}
    for key in PARAM_KEYS:
        value = params[key].numpy()[0]
        out[key] = bool(value) if value.dtype == np.bool_ else float(value)
    if not config.channel_shift_range:
        out["channel_shift_intensity"] = None
    if config.brightness_range is None:
        out["brightness"] = None
    return out


# -- applying --------------------------------------------------------------


def _float64(value: Any) -> tf.Tensor:
    """float64 tensor; Python floats go straight to float64 (``tf.cast``
    would round them through float32 first)."""
    return tf.cast(tf.convert_to_tensor(value, dtype_hint=tf.float64), tf.float64)


_GEOMETRY_DEFAULTS = (
    ("theta", 0.0),
    ("tx", 0.0),
    ("ty", 0.0),
    ("shear", 0.0),
    ("zx", 1.0),
    ("zy", 1.0),
)


def _keras_transforms(
    params: Mapping[str, Any],
    height: tf.Tensor,
    width: tf.Tensor,
    horizontal_flip: bool = False,
    vertical_flip: bool = False,
) -> tf.Tensor:
    """Keras's ``apply_affine_transform`` matrices as projective rows ``[B, 8]``.

    Composed in float64 as Keras does (rotation @ shift @ shear @ zoom, then
    centred with ``transform_matrix_offset_center(m, h, w)``). The matrix
    maps an output point ``(column, row)`` to its source point, which is
    the convention of ``ImageProjectiveTransformV3``. With ``*_flip`` the
    per-image flips of ``params`` are composed in on the output side, so
    the resampling writes the flipped image directly.
    """

    def get(key: str, default: float) -> tf.Tensor:
        return _float64(params.get(key, default))

    theta = get("theta", 0.0) * (math.pi / 180.0)  # np.deg2rad
    tx, ty = get("tx", 0.0), get("ty", 0.0)
    shear = get("shear", 0.0) * (math.pi / 180.0)
    zx, zy = get("zx", 1.0), get("zy", 1.0)
    values = [tf.reshape(v, [-1]) for v in (theta, tx, ty, shear, zx, zy)]
    shape = tf.shape(values[0])
    for value in values[1:]:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(value))
    theta, tx, ty, shear, zx, zy = [tf.broadcast_to(v, shape) for v in values]
    batch = shape[0]
    zero, one = tf.zeros_like(theta), tf.ones_like(theta)

    def matrix(rows: list[list[tf.Tensor]]) -> tf.Tensor:
        return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)  # [B, 3, 3]

    cos, sin = tf.cos(theta), tf.sin(theta)
    rotation = matrix([[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]])
    shift = matrix([[one, zero, tx], [zero, one, ty], [zero, zero, one]])
    shear_m = matrix([[one, -tf.sin(shear), zero], [zero, tf.cos(shear), zero], [zero, zero, one]])
    zoom = matrix([[zx, zero, zero], [zero, zy, zero], [zero, zero, one]])
    m = rotation @ shift @ shear_m @ zoom
    # transform_matrix_offset_center(m, h, w): the first coordinate (the
    # column, after Keras's axis swap) is centred with h, the second with w.
    o_x = tf.cast(height, tf.float64) / 2 - 0.5
    o_y = tf.cast(width, tf.float64) / 2 - 0.5
    offset = matrix([[one, zero, one * o_x], [zero, one, one * o_y], [zero, zero, one]])
    reset = matrix([[one, zero, -one * o_x], [zero, one, -one * o_y], [zero, zero, one]])
    m = offset @ m @ reset
    if horizontal_flip:  # output column x reads column (w - 1 - x)
        flip = tf.reshape(tf.cast(params["flip_horizontal"], tf.bool), [-1])
        last = tf.cast(width, tf.float64) - 1
        mirror = matrix([[-one, zero, one * last], [zero, one, zero], [zero, zero, one]])
        m = tf.where(flip[:, None, None], m @ mirror, m)
    if vertical_flip:
        flip = tf.reshape(tf.cast(params["flip_vertical"], tf.bool), [-1])
        last = tf.cast(height, tf.float64) - 1
        mirror = matrix([[one, zero, zero], [zero, -one, one * last], [zero, zero, one]])
        m = tf.where(flip[:, None, None], m @ mirror, m)
    rows = tf.reshape(m[:, :2, :], [-1, 6])
    return tf.cast(tf.concat([rows, tf.zeros([batch, 2], tf.float64)], axis=1), tf.float32)


def _source_points(transforms: tf.Tensor, height: tf.Tensor, width: tf.Tensor):
    """Source ``(x, y)`` of every output pixel, float32 ``[B, H, W]`` each.

    Same arithmetic as the projective op's kernel, so the constant-mode mask
    agrees with the op's sampling.
    """
    xs = tf.cast(tf.range(width), tf.float32)[None, None, :]
    ys = tf.cast(tf.range(height), tf.float32)[None, :, None]
    a0, a1, a2, b0, b1, b2 = [transforms[:, i, None, None] for i in range(6)]
    return a0 * xs + a1 * ys + a2, b0 * xs + b1 * ys + b2


def _scipy_wrap(coord: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """scipy.ndimage's ``mode="wrap"``: period ``size - 1`` outside ``[0, size - 1]``."""
    last = tf.cast(size, tf.float32) - 1.0
    safe = tf.maximum(last, 1.0)
    below = coord + safe * (tf.floor(-coord / safe) + 1.0)
    above = coord - safe * tf.floor(coord / safe)
    wrapped = tf.where(coord < 0, below, tf.where(coord > last, above, coord))
    return tf.where(last > 0, wrapped, tf.zeros_like(coord))


def _resample_wrap(images: tf.Tensor, x: tf.Tensor, y: tf.Tensor, order: int) -> tf.Tensor:
    """Samples ``images`` [B, H, W, C] at wrapped points with gathers."""
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    x = _scipy_wrap(x, width)
    y = _scipy_wrap(y, height)
    flat = tf.reshape(images, [batch, height * width, channels])

    def gather(yi: tf.Tensor, xi: tf.Tensor) -> tf.Tensor:
        xi = tf.clip_by_value(xi, 0, width - 1)
        yi = tf.clip_by_value(yi, 0, height - 1)
        index = tf.reshape(yi * width + xi, [batch, -1])
        return tf.reshape(tf.gather(flat, index, batch_dims=1), shape)

    if order == 0:  # scipy rounds half up: floor(c + 0.5).
        return gather(
            tf.cast(tf.floor(y + 0.5), tf.int32), tf.cast(tf.floor(x + 0.5), tf.int32)
        )
    x0, y0 = tf.floor(x), tf.floor(y)
    fx = tf.cast((x - x0)[..., None], images.dtype)
    fy = tf.cast((y - y0)[..., None], images.dtype)
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    top = (1 - fx) * gather(y0, x0) + fx * gather(y0, x0 + 1)
    bottom = (1 - fx) * gather(y0 + 1, x0) + fx * gather(y0 + 1, x0 + 1)
    return (1 - fy) * top + fy * bottom


def _affine(
    images: tf.Tensor,
    params: Mapping[str, Any],
    fill_mode: str,
    cval: float,
    order: int,
    horizontal_flip: bool = False,
    vertical_flip: bool = False,
) -> tf.Tensor:
    """Rotation, shift, shear, zoom (and flips) of ``images`` [B, H, W, C], one op."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    transforms = _keras_transforms(params, height, width, horizontal_flip, vertical_flip)
    transforms = tf.broadcast_to(transforms, [shape[0], 8])
    if fill_mode == "wrap":
        x, y = _source_points(transforms, height, width)
        return _resample_wrap(images, x, y, order)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.stack([height, width]),
        fill_value=tf.constant(cval, tf.float32),
        interpolation="NEAREST" if order == 0 else "BILINEAR",
        fill_mode=fill_mode.upper(),
    )
    if fill_mode == "constant":
        # scipy gives cval wherever the source point is outside [0, n - 1];
        # TF's op blends with cval within one pixel of the edge.
        x, y = _source_points(transforms, height, width)
        inside = (
            (x >= 0)
            & (x <= tf.cast(width - 1, tf.float32))
            & (y >= 0)
            & (y <= tf.cast(height - 1, tf.float32))
        )
        out = tf.where(inside[..., None], out, tf.constant(cval, out.dtype))
    return out


def _channel_shift(images: tf.Tensor, intensity: tf.Tensor) -> tf.Tensor:
    """Keras's ``apply_channel_shift``: same shift on all channels, clipped."""
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    intensity = tf.reshape(tf.cast(intensity, images.dtype), [-1, 1, 1, 1])
    return tf.clip_by_value(images + intensity, low, high)


def _flip(images: tf.Tensor, flags: Any, axis: int) -> tf.Tensor:
    flags = tf.reshape(tf.cast(flags, tf.bool), [-1, 1, 1, 1])
    return tf.where(flags, tf.reverse(images, axis=[axis]), images)


def _brightness(images: tf.Tensor, factor: Any) -> tf.Tensor:
    """Keras's ``apply_brightness_shift(x, b, scale=False)`` on [B, H, W, C].

    Reproduces the round trip through an 8-bit PIL image: scale to
    [0, 255] only when the image leaves that range, truncate to uint8, PIL
    ``ImageEnhance.Brightness`` (``uint8(clip(float32(b) * v, 0, 255))``,
    alpha untouched), then scale back. Arithmetic in float32 as Keras's.
    """
    channels = images.shape[-1]
    if channels not in (1, 3, 4):
        raise ValueError(
            "Brightness shifts need 1, 3 or 4 channels (a PIL 'L', 'RGB' or 'RGBA' "
            "image), known when the graph is built. "
            + _validate.received("channels", channels)
        )
    dtype = images.dtype
    x = tf.cast(images, tf.float32)
    x_min = tf.reduce_min(x, axis=[1, 2, 3], keepdims=True)
    x_max = tf.reduce_max(x, axis=[1, 2, 3], keepdims=True)
    rescale = (x_min < 0) | (x_max > 255)
    shifted = x - x_min
    span = tf.reduce_max(shifted, axis=[1, 2, 3], keepdims=True)
    scaled = tf.math.divide_no_nan(shifted, span) * 255.0  # array_to_img(scale=True)
    pixels = tf.floor(tf.where(rescale, scaled, x))  # .astype("uint8")
    factor = tf.reshape(tf.cast(factor, tf.float32), [-1, 1, 1, 1])
    out = tf.floor(tf.clip_by_value(factor * pixels, 0.0, 255.0))  # Image.blend
    if channels == 4:
        out = tf.concat([out[..., :3], pixels[..., 3:]], axis=-1)
    out = tf.where(rescale, out / 255.0 * (x_max - x_min) + x_min, out)
    return tf.cast(out, dtype)


def _apply_nhwc(
    images: tf.Tensor,
    params: Mapping[str, Any],
    *,
    affine: bool,
    channel_shift: bool,
    horizontal_flip: bool,
    vertical_flip: bool,
    brightness: bool,
    fill_mode: str,
    cval: float,
    order: int,
) -> tf.Tensor:
    """The stages that are switched on, in Keras's order, on [B, H, W, C].

    When the affine stage runs, the flips are folded into its matrices
    instead of costing two more passes. That equals Keras's order (affine,
    channel shift, flips, brightness) because channel shift and brightness
    are per-pixel maps with whole-image statistics, which flips leave alone.
    """
    if affine:
        images = _affine(
            images, params, fill_mode, cval, order, horizontal_flip, vertical_flip
        )
    if channel_shift:
        images = _channel_shift(images, params["channel_shift_intensity"])
    if horizontal_flip and not affine:
        images = _flip(images, params["flip_horizontal"], axis=2)
    if vertical_flip and not affine:
        images = _flip(images, params["flip_vertical"], axis=1)
    if brightness:
        images = _brightness(images, params["brightness"])
    return images


def _check_images(images: Any, rank: int) -> tf.Tensor:
    images = tf.convert_to_tensor(images)
    if not images.dtype.is_floating:
        raise TypeError(
            "`images` must be a floating-point tensor (cast before augmenting). "
            + _validate.received("images.dtype", images.dtype.name)
        )
    if images.shape.rank != rank:
        what = (
            "a batch [B, H, W, C] or [B, C, H, W]"
            if rank == 4
            else "one image [H, W, C] or [C, H, W]"
        )
        raise ValueError(
            f"`images` must be {what}. " + _validate.received("images.shape", images.shape)
        )
    return images


def apply(
    config: AugmentConfig,
    images: tf.Tensor,
    params: Mapping[str, tf.Tensor],
    data_format: DataFormat = "channels_last",
) -> tf.Tensor:
    """Applies sampled parameters to a batch, in Keras's order.

    Affine resampling (one ``ImageProjectiveTransformV3`` op for the batch;
    gathers for ``fill_mode="wrap"``), then channel shift, horizontal flip,
    vertical flip and brightness. When the affine stage runs, the flips
    are composed into its matrices (same result: channel shift and
    brightness do not care where a pixel is). Which stages run is decided from
    ``config`` when the graph is built; images drawn with neutral
    parameters come back unchanged by the affine stage (identity matrices
    resample exactly).

    Args:
        config: The augmentation settings (fill mode, interpolation, and
            which stages are on).
        images: Float tensor ``[B, H, W, C]`` (``[B, C, H, W]`` for
            ``channels_first``). Brightness needs ``C`` in 1, 3, 4.
        params: The dict from `sample_params` (``[B]`` tensors).
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A tensor of the same shape, dtype and layout as ``images``.
    """
    data_format = _data_format(data_format)
    images = _check_images(images, 4)
    if config.is_identity:
        return images
    if data_format == "channels_first":
        images = tf.transpose(images, [0, 2, 3, 1])
    images = _apply_nhwc(
        images,
        params,
        affine=config.has_affine,
        channel_shift=bool(config.channel_shift_range),
        horizontal_flip=config.horizontal_flip,
        vertical_flip=config.vertical_flip,
        brightness=config.brightness_range is not None,
        fill_mode=config.fill_mode,
        cval=config.cval,
        order=config.interpolation_order,
    )
    if data_format == "channels_first":
        images = tf.transpose(images, [0, 3, 1, 2])
    return images


def _is_set(value: Any, neutral: float) -> bool:
    """Keras's ``value != neutral`` test; tensors count as set."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return True
    return bool(np.any(np.asarray(value) != neutral))


def apply_transform_single(
    config: AugmentConfig,
    x: Any,
    params_dict: Mapping[str, Any],
    data_format: DataFormat = "channels_last",
) -> tf.Tensor:
    """Keras's ``ImageDataGenerator.apply_transform`` for one image.

    As in Keras, the parameters decide what runs (missing keys mean
    neutral; ``None`` channel shift or brightness means off) while
    ``config`` gives ``fill_mode``, ``cval`` and ``interpolation_order``.

    Args:
        config: The augmentation settings.
        x: One image ``[H, W, C]`` (``[C, H, W]`` for ``channels_first``);
            integer images are cast to float32.
        params_dict: Keras-style dict (`PARAM_KEYS`), Python numbers.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A float tensor of the same shape as ``x``.
    """
    data_format = _data_format(data_format)
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    x = _check_images(x, 3)
    get = params_dict.get
    affine = any(_is_set(get(key, default), default) for key, default in _GEOMETRY_DEFAULTS)
    flags = {}
    batched: dict[str, tf.Tensor] = {}
    for key in ("flip_horizontal", "flip_vertical"):
        value = get(key)
        value = False if value is None else value
        flags[key] = _is_set(value, 0)
        batched[key] = tf.reshape(tf.cast(value, tf.bool), [1])
    for key, default in _GEOMETRY_DEFAULTS:
        batched[key] = tf.reshape(_float64(get(key, default)), [1])
    for key in ("channel_shift_intensity", "brightness"):
        if get(key) is not None:
            batched[key] = tf.reshape(tf.cast(get(key), tf.float32), [1])
    images = x[None]
    if data_format == "channels_first":
        images = tf.transpose(images, [0, 2, 3, 1])
    images = _apply_nhwc(
        images,
        batched,
        affine=affine,
        channel_shift=get("channel_shift_intensity") is not None,
        horizontal_flip=flags["flip_horizontal"],
        vertical_flip=flags["flip_vertical"],
        brightness=get("brightness") is not None,
        fill_mode=config.fill_mode,
        cval=config.cval,
        order=config.interpolation_order,
    )
    if data_format == "channels_first":
        images = tf.transpose(images, [0, 3, 1, 2])
    return images[0]
