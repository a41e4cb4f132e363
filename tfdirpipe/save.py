"""``save_to_dir``: write every image of a produced batch, as Keras's iterators do.

Keras's legacy iterators, given ``save_to_dir``, write each image of each
batch they produce as
``save_to_dir/{save_prefix}_{index}_{hash}.{save_format}``, where ``index``
is the sample's index in the dataset and ``hash`` a random number, after
``keras.utils.array_to_img(x, data_format, scale=True)`` (min-max scaled to
0..255). Here the same happens inside the ``tf.data`` graph: pure TF ops
(`to_uint8`, ``tf.io.encode_png`` / ``encode_jpeg``, ``tf.io.write_file``),
no ``py_function``, so ``model.fit``, ``next(it)``, ``for batch in it`` and
``it[i]`` all save exactly the batches they produce.

The iterator applies `save_batch` as the last, sequential stage of its
pipeline, after the prefetch buffer: a batch is written when the consumer
takes it, never ahead of it. ``hash`` is drawn by stateless random ops from
the batch's seed: reproducible for a given ``seed``, different every epoch.

Example:

```python
it = ImageDataGenerator(rotation_range=20).flow_from_directory(
    "data/train", save_to_dir="/tmp/preview", save_prefix="aug", seed=1)
x, y = next(it)
# /tmp/preview/aug_17_4039118.png, aug_3_9120374.png, ... (one per image)
```
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import tensorflow as tf

from tfdirpipe import _validate

# Formats the graph can encode, in a fixed order (used in messages). Matched
# case-insensitively; the file extension keeps the spelling given, as in Keras.
SAVE_FORMATS: tuple[str, ...] = ("png", "jpeg", "jpg")
# The hash part of a file name lies in [0, HASH_RANGE), as in Keras's
# DirectoryIterator (``np.random.randint(1e7)``).
HASH_RANGE = 10_000_000
# Pillow's default quality, which Keras's ``img.save(path)`` gets.
JPEG_QUALITY = 75
# Folded into the batch seed so the hashes are independent of the
# augmentation draws made from that same seed.
_HASH_STREAM = 0x5A7E


@dataclasses.dataclass(frozen=True)
class SaveSpec:
    """Where and how the images of each batch are written.

    Attributes:
        directory: An existing directory (local, or a ``scheme://`` path
            that ``tf.io.write_file`` can write).
        prefix: Start of each file name (Keras's ``save_prefix``).
        format: ``"png"``, ``"jpeg"`` or ``"jpg"``, any case (Keras's
            ``save_format``); also the file extension, as given.
        data_format: Layout of the batch images, ``"channels_last"`` or
            ``"channels_first"``.
    """

    directory: str
    prefix: str = ""
    format: str = "png"
    data_format: str = "channels_last"

    def __post_init__(self):
        validate_save_args(self.directory, self.prefix, self.format)
        _validate.one_of("data_format", self.data_format, _validate.DATA_FORMATS)

    @property
    def is_jpeg(self) -> bool:
        """Whether images are JPEG-encoded (else PNG)."""
        return self.format.lower() in ("jpeg", "jpg")

    @property
    def path_prefix(self) -> str:
        """Every file path up to the sample index."""
        return os.path.join(self.directory, f"{self.prefix}_")


def validate_save_args(
    save_to_dir: Any, save_prefix: Any, save_format: Any, channels: int | None = None
) -> str | None:
    """Checks the ``save_*`` arguments before any image is read.

    Keras does not create ``save_to_dir`` (Pillow fails at the first batch
    when it is missing); here it must exist already and is checked up front,
    so a typo fails at construction rather than mid-training, and never
    creates a stray directory.

    Args:
        save_to_dir: ``None`` (no saving) or an existing directory.
        save_prefix: File name prefix, a ``str``.
        save_format: One of `SAVE_FORMATS`, any case.
        channels: Channels of the images to save, when known: 1, 3 or 4 as
            ``array_to_img`` accepts (JPEG: 1 or 3).

    Returns:
        ``save_to_dir`` as a ``str``, or ``None``.
    """
    if save_to_dir is None:
        return None
    if not isinstance(save_prefix, str):
        raise TypeError(
            "`save_prefix` must be a str. " + _validate.received("save_prefix", save_prefix)
        )
    allowed = ", ".join(repr(f) for f in SAVE_FORMATS)
    if not isinstance(save_format, str):
        raise TypeError(
            f"`save_format` must be a str, one of {allowed}. "
            + _validate.received("save_format", save_format)
        )
    if save_format.lower() not in SAVE_FORMATS:
        raise ValueError(
            f"Invalid save_format: `save_format` must be one of {allowed} (any case); "
            "images are encoded inside the tf.data graph, which writes PNG and JPEG only. "
            + _validate.received("save_format", save_format)
        )
    if channels is not None:
        if channels not in (1, 3, 4):
            raise ValueError(
                "`save_to_dir` saves images with 1, 3 or 4 channels, as "
                f"`keras.utils.array_to_img` does; these images have {channels}. "
                + _validate.received("save_to_dir", save_to_dir)
            )
        if channels == 4 and save_format.lower() != "png":
            raise ValueError(
                f"`save_format={save_format!r}` cannot hold 4-channel (RGBA) images; "
                "pass save_format='png'. " + _validate.received("save_format", save_format)
            )
    return _validate.directory("save_to_dir", save_to_dir)


def spec_for(it: Any) -> SaveSpec | None:
    """The `SaveSpec` of an iterator's ``save_*`` and ``data_format`` attributes.

    ``None`` without ``save_to_dir``; `SaveSpec` validates the rest.
    """
    directory = getattr(it, "save_to_dir", None)
    if directory is None:
        return None
    return SaveSpec(
        directory,
        getattr(it, "save_prefix", ""),
        getattr(it, "save_format", "png"),
        getattr(it, "data_format", "channels_last"),
    )


def to_uint8(images: tf.Tensor, data_format: str) -> tf.Tensor:
    """``array_to_img(x, data_format, scale=True)`` of each image: uint8 NHWC.

    Per image, in float32 as Keras: ``x - min``, divided by the new max when
    it is not 0, times 255, then truncated to uint8 (numpy's ``astype``).
    """
    x = tf.cast(images, tf.float32)
    if data_format == "channels_first":
        x = tf.transpose(x, (0, 2, 3, 1))
    x = x - tf.reduce_min(x, axis=(1, 2, 3), keepdims=True)
    top = tf.reduce_max(x, axis=(1, 2, 3), keepdims=True)
    x = tf.where(tf.not_equal(top, 0.0), x / top, x)
    return tf.cast(x * 255.0, tf.uint8)


def file_names(indices: tf.Tensor, batch_seed: tf.Tensor, spec: SaveSpec) -> tf.Tensor:
    """``{dir}/{prefix}_{index}_{hash}.{format}`` for each sample: string ``[B]``."""
    indices = tf.cast(indices, tf.int64)
    seed = tf.random.experimental.stateless_fold_in(tf.cast(batch_seed, tf.int64), _HASH_STREAM)
    hashes = tf.random.stateless_uniform(
        tf.shape(indices), seed=seed, minval=0, maxval=HASH_RANGE, dtype=tf.int64
    )
    return tf.strings.join(
        [
            spec.path_prefix,
            tf.strings.as_string(indices),
            "_",
            tf.strings.as_string(hashes),
            f".{spec.format}",
        ]
    )


def _encode(image: tf.Tensor, spec: SaveSpec) -> tf.Tensor:
    if spec.is_jpeg:
        return tf.io.encode_jpeg(image, quality=JPEG_QUALITY)
    return tf.io.encode_png(image)


def save_batch(output: Any, indices: tf.Tensor, batch_seed: tf.Tensor, spec: SaveSpec) -> Any:
    """Writes the images of one batch; returns ``output`` unchanged.

    Args:
        output: A finished batch; its first leaf (``tf.nest.flatten``) is the
            image tensor ``[B, ...]`` (``x``, or ``x[0]`` when ``x`` is a
            list of inputs; the ``x`` of ``class_mode="input"`` is written
            once).
        indices: int64 ``[B]``: each image's sample index.
        batch_seed: int64 ``[2]``: the batch's seed (see `pipeline.batch_seed`).
        spec: Where and how to write.
    """
    images = tf.nest.flatten(output)[0]
    pixels = to_uint8(images, spec.data_format)
    names = file_names(indices, batch_seed, spec)

    def write(args):
        image, name = args
        data = _encode(image, spec)
        with tf.control_dependencies([tf.io.write_file(name, data)]):
            return tf.strings.length(data)

    written = tf.map_fn(write, (pixels, names), fn_output_signature=tf.int32)
    with tf.control_dependencies([written]):
        return tf.nest.map_structure(tf.identity, output)
