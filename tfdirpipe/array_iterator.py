"""`NumpyArrayIterator`: ``ImageDataGenerator.flow(x, y)`` as a tf.data pipeline."""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe import save as save_lib
from tfdirpipe.iterator import BaseIterator


class NumpyArrayIterator(BaseIterator):
    """Iterator over in-memory arrays (``flow``), a ``tf.data.Dataset`` too.

    Same arguments, attributes and outputs as Keras's legacy
    ``NumpyArrayIterator``. The arrays are held once more in TensorFlow
    variables (so the graph never embeds them as constants); augmentation and
    standardization run as batched TF ops.

    Returns (per batch): ``x`` of ``dtype`` shaped like ``x[0]``, or
    ``[x, *x_misc]`` when ``x`` was ``(images, misc)``; then ``y`` when
    given; then ``sample_weight`` when given, as Keras returns them.
    """

    def __init__(
        self,
        x,
        y,
        image_data_generator,
        batch_size=32,
        shuffle=False,
        sample_weight=None,
        seed=None,
        data_format=None,
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        subset=None,
        ignore_class_split=False,
        dtype=None,
        *,
        deterministic: bool | None = None,
    ):
        data_format = _validate.data_format(data_format)
        self.dtype = _validate.float_dtype(dtype)
        batch_size = _validate.positive_int("batch_size", batch_size)
        _validate.boolean("shuffle", shuffle)
        _validate.optional_seed("seed", seed)
        if isinstance(x, (tuple, list)):
            x_misc = [np.asarray(x[1])] if not isinstance(x[1], list) else [np.asarray(m) for m in x[1]]
            x = x[0]
            for misc in x_misc:
                if len(x) != len(misc):
                    raise ValueError(
                        "All of the arrays in `x` should have the same length. "
                        f"Found a pair with: len(x[0]) = {len(x)}, len(x[?]) = {len(misc)}"
                    )
        else:
            x_misc = []
        if y is not None and len(x) != len(y):
            raise ValueError(
                "`x` (images tensor) and `y` (labels) should have the same length. "
                f"Found: x.shape = {np.asarray(x).shape}, y.shape = {np.asarray(y).shape}"
            )
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError(
                "`x` (images tensor) and `sample_weight` should have the same length. "
                f"Found: x.shape = {np.asarray(x).shape}, "
                f"sample_weight.shape = {np.asarray(sample_weight).shape}"
            )
        if subset is not None:
            if subset not in _validate.SUBSETS:
                raise ValueError(
                    f'Invalid subset name: {subset}; expected "training" or "validation". '
                    + _validate.received("subset", subset)
                )
            split = int(len(x) * image_data_generator._validation_split)
            if (
                y is not None
                and not ignore_class_split
                and not np.array_equal(np.unique(y[:split]), np.unique(y[split:]))
            ):
                raise ValueError(
                    "Training and validation subsets have different number of classes after "
                    "the split. If your numpy arrays are sorted by the label, you might want "
                    "to shuffle them."
                )
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x, x_misc = x[part], [np.asarray(m[part]) for m in x_misc]
            y = y[part] if y is not None else None
            sample_weight = sample_weight[part] if sample_weight is not None else None
        self.x = np.asarray(x, dtype=self.dtype)
        if self.x.ndim != 4:
            raise ValueError(
                "Input data in `NumpyArrayIterator` should have rank 4. "
                f"You passed an array with shape {self.x.shape}"
            )
        channels_axis = 3 if data_format == "channels_last" else 1
        if self.x.shape[channels_axis] not in {1, 3, 4}:
            warnings.warn(
                f'NumpyArrayIterator is set to use the data format convention "{data_format}" '
                f"(channels on axis {channels_axis}), i.e. expected either 1, 3, or 4 channels "
                f"on axis {channels_axis}. However, it was passed an array with shape "
                f"{self.x.shape} ({self.x.shape[channels_axis]} channels).",
                stacklevel=2,
            )
        save_to_dir = save_lib.validate_save_args(
            save_to_dir, save_prefix, save_format, channels=int(self.x.shape[channels_axis])
        )
        self.x_misc = x_misc
        self.y = np.asarray(y) if y is not None else None
        self.sample_weight = np.asarray(sample_weight) if sample_weight is not None else None
        self.image_data_generator = image_data_generator
        self.data_format = data_format
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        self.subset = subset

        arrays = [self.x, *x_misc]
        if self.y is not None:
            arrays.append(self.y)
        if self.sample_weight is not None:
            arrays.append(self.sample_weight)
        stores = [
            tf.Variable(a if len(a) else np.zeros((1, *a.shape[1:]), a.dtype), trainable=False)
            for a in arrays
        ]

        def load(i):
            return tuple(tf.gather(v, i) for v in stores)

        gen = image_data_generator
        transforms = {
            True: gen.batch_transform(data_format) if gen else None,
            False: gen.batch_transform(data_format, augment=False) if gen else None,
        }
        has_y, has_sw, n_misc = self.y is not None, self.sample_weight is not None, len(x_misc)
        out_dtype = self.dtype

        def finish(batch, seed, augment):
            images = tf.cast(batch[0], tf.float32)
            if transforms[augment] is not None:
                images = transforms[augment](images, seed)
            images = tf.cast(images, out_dtype)
            rest = list(batch[1:])
            misc, rest = rest[:n_misc], rest[n_misc:]
            x_out = (images, *misc) if misc else images  # tf.data needs tuples
            if not has_y:
                return x_out
            output = (x_out, rest[0])
            if has_sw:
                output += (rest[1],)
            return output

        self._build(len(self.x), batch_size, shuffle, seed, load, finish, deterministic)
