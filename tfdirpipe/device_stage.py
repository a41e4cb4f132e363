"""The generator's batch transform as a Keras layer that runs on the model's device.

``flow_from_directory(..., device_stage=True)`` makes the iterator yield uint8
batches (resized, not yet rescaled, augmented or standardized) and defers the
transform to a `DeviceStage` layer placed first in the model. The layer runs
the very same function the tf.data graph would have run
(`ImageDataGenerator.batch_transform`), so there is one code path; it just
executes where the model does: on the GPU when one is visible, on the CPU
otherwise, or on the device named by ``device``.

```python
gen = ImageDataGenerator(rescale=1 / 255, rotation_range=20, horizontal_flip=True)
train = gen.flow_from_directory("data/train", target_size=(224, 224), device_stage=True)
model = keras.Sequential([keras.Input((224, 224, 3), dtype="uint8"),
                          train.device_layer(), *backbone_layers])
model.fit(train, epochs=10)
```
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import keras
import tensorflow as tf

__all__ = ["DeviceStage"]

Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class DeviceStage(keras.layers.Layer):
    """uint8 batch -> rescaled / augmented / standardized ``output_dtype`` batch.

    In training (``training=True``, as ``model.fit`` calls it) the random
    transforms run with a stateless seed ``(seed, step)``, ``step`` counting
    the batches this layer has transformed: reproducible for a given seed,
    different every batch. Otherwise (evaluate, predict) only the
    deterministic part runs (rescale, standardization,
    ``preprocessing_function``), as in Keras's legacy iterator for
    validation data.

    The layer holds Python functions, so a model containing it can be saved
    with ``save_weights`` but not serialized whole; export the model without
    it (inputs then need the same transform).

    Args:
        transform: ``fn(images_float32, seed[2]) -> images`` with augmentation
            (``ImageDataGenerator.batch_transform(data_format)``), or None.
        plain: The same without augmentation
            (``batch_transform(data_format, augment=False)``), or None.
        output_dtype: Dtype of the output images.
        seed: Seed of the augmentation draws.
        device: Device to run on (e.g. ``"/GPU:0"``); None: wherever the
            model runs.
    """

    def __init__(
        self,
        transform: Transform | None,
        plain: Transform | None,
        output_dtype: str = "float32",
        seed: int = 0,
        device: str | None = None,
        **kwargs,
    ):
        if device is not None and not isinstance(device, str):
            raise TypeError(
                f"`device` must be None or a device name such as '/GPU:0'. Received: device={device!r}"
            )
        super().__init__(**kwargs)
        self._transform = transform
        self._plain = plain
        self._output_dtype = output_dtype
        self._seed = int(seed)
        self.device = device
        self.step = self.add_weight(
            name="step", shape=(), dtype="int64", initializer="zeros", trainable=False
        )

    def call(self, images, training=None):
        place = tf.device(self.device) if self.device else contextlib.nullcontext()
        with place:
            x = tf.cast(images, tf.float32)
            fn = self._transform if training else self._plain
            if fn is not None:
                step = tf.cast(self.step.value, tf.int64)
                x = fn(x, tf.stack([tf.constant(self._seed, tf.int64), step]))
                if training:
                    self.step.assign_add(tf.constant(1, tf.int64))
            return tf.cast(x, self._output_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        raise NotImplementedError(
            "DeviceStage holds the generator's Python transform and cannot be "
            "serialized; save the model's weights, or export it without this layer."
        )
