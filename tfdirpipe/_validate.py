"""Argument checks shared by the public entry points (no I/O, no TensorFlow).

Every message names the argument, says what is allowed (in a fixed order)
and ends with ``Received: name=value``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any

CLASS_MODES: tuple[Any, ...] = ("categorical", "binary", "sparse", "input", None)
COLOR_MODES: tuple[str, ...] = ("rgb", "rgba", "grayscale")
COLOR_CHANNELS: dict[str, int] = {"rgb": 3, "rgba": 4, "grayscale": 1}
DATA_FORMATS: tuple[str, ...] = ("channels_last", "channels_first")
SUBSETS: tuple[str, ...] = ("training", "validation")
ON_ERROR: tuple[str, ...] = ("raise", "skip", "warn")


def received(name: str, value: Any) -> str:
    """The closing ``Received: name=value`` clause."""
    return f"Received: {name}={value!r}"


def one_of(name: str, value: Any, allowed: Sequence[Any], what: str = "") -> Any:
    """Returns ``value`` if it is in ``allowed``, else raises ValueError."""
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ValueError(
            f"Invalid {what or name}: `{name}` must be one of {listed}. "
            + received(name, value)
        )
    return value


def boolean(name: str, value: Any) -> bool:
    """Accepts Python and numpy booleans."""
    if value is True or value is False or type(value).__name__ == "bool_":
        return bool(value)
    raise TypeError(f"`{name}` must be a bool (True or False). " + received(name, value))


def positive_int(name: str, value: Any) -> int:
    """A strictly positive integer (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive int. " + received(name, value))
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive int. " + received(name, value))
    return int(value)


def optional_seed(name: str, value: Any) -> int | None:
    """``None`` or a non-negative integer below 2**32 (numpy's seed range)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be None or an int. " + received(name, value))
    if not 0 <= value < 2**32:
        raise ValueError(
            f"`{name}` must be None or an int in [0, 2**32). " + received(name, value)
        )
    return int(value)


def size_pair(name: str, value: Any) -> tuple[int, int]:
    """A ``(height, width)`` pair of positive ints."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(
            f"`{name}` must be a tuple of two positive ints (height, width). "
            + received(name, value)
        )
    if len(value) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ValueError(
            f"`{name}` must be a tuple of two positive ints (height, width). "
            + received(name, value)
        )
    return int(value[0]), int(value[1])


def directory(name: str, value: Any) -> str:
    """An existing local or ``tf.io.gfile`` directory path, as ``str``."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path (str or os.PathLike). " + received(name, value))
    path = os.fspath(value)
    if is_remote(path):
        return path
    if not os.path.exists(path):
        raise FileNotFoundError(f"Directory not found: `{name}` does not exist. " + received(name, path))
    if not os.path.isdir(path):
        raise NotADirectoryError(f"`{name}` is not a directory. " + received(name, path))
    return path


def is_remote(path: str) -> bool:
    """True for ``scheme://`` paths read through ``tf.io.gfile``."""
    return "://" in path


def data_format(value: Any) -> str:
    """``None`` means Keras's global ``image_data_format()``."""
    if value is None:
        import keras

        return keras.config.image_data_format()
    return one_of("data_format", value, DATA_FORMATS)


def float_dtype(value: Any) -> str:
    """``None`` means Keras's ``floatx()``; otherwise any numeric TF dtype name."""
    if value is None:
        import keras

        return keras.config.floatx()
    import tensorflow as tf

    try:
        dtype = tf.as_dtype(value)
    except TypeError as err:
        raise TypeError(
            "`dtype` must be a numeric dtype such as 'float32', 'float16' or 'uint8'. "
            + received("dtype", value)
        ) from err
    if not (dtype.is_floating or dtype.is_integer):
        raise TypeError(
            "`dtype` must be a numeric dtype such as 'float32', 'float16' or 'uint8'. "
            + received("dtype", value)
        )
    return dtype.name


def color_mode(value: Any) -> str:
    """Keras's ``color_mode`` check and message (``ValueError``)."""
    if value not in COLOR_MODES:
        raise ValueError(
            f'Invalid color mode: {value}; expected "rgb", "rgba", or "grayscale". '
            + received("color_mode", value)
        )
    return value


def subset_split(subset: Any, image_data_generator: Any) -> tuple[float, float] | None:
    """``subset`` + the generator's ``validation_split`` -> the fraction range kept.

    ``None`` without a subset; ``(0, f)`` for validation, ``(f, 1)`` for
    training. A subset without a split is an error that says the fix.
    """
    if subset is None:
        return None
    if subset not in SUBSETS:
        raise ValueError(
            f'Invalid subset name: {subset}; expected "training" or "validation". '
            + received("subset", subset)
        )
    fraction = getattr(image_data_generator, "_validation_split", 0.0)
    if not fraction:
        raise ValueError(
            f"`subset={subset!r}` needs a validation split: pass "
            "`ImageDataGenerator(validation_split=...)` with a value in (0, 1). "
            + received("subset", subset)
        )
    return (0.0, fraction) if subset == "validation" else (fraction, 1.0)
