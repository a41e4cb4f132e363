"""`ImageDataGenerator`: the drop-in for Keras's legacy generator.

Holds the augmentation and standardization settings (validated up front, as
Keras validates them) and creates the tf.data-native iterators. The random
transforms and the standardization run as batched TF ops inside the
iterator's graph (see `augment` and `standardize`).
"""

from __future__ import annotations

import dataclasses

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe import augment as augment_lib
from tfdirpipe import standardize as standardize_lib
from tfdirpipe.array_iterator import NumpyArrayIterator
from tfdirpipe.dataframe_iterator import DataFrameIterator
from tfdirpipe.iterator import DirectoryIterator


class ImageDataGenerator:
    """Generates batches of image data with real-time augmentation.

    Same constructor and methods as ``tf.keras.preprocessing.image.
    ImageDataGenerator``; the iterators it returns are ``tf.data.Dataset``
    objects, so ``model.fit(it)`` runs a native tf.data pipeline.

    Example:
        ```python
        from tfdirpipe import ImageDataGenerator

        train = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            "data/train", target_size=(150, 150), batch_size=32)
        model.fit(train, epochs=10)
        ```

    Args:
        featurewise_center: Set the input mean to 0 over the dataset
            (needs `fit`).
        samplewise_center: Set each sample's mean to 0.
        featurewise_std_normalization: Divide inputs by the dataset std
            (needs `fit`).
        samplewise_std_normalization: Divide each input by its std.
        zca_whitening: Apply ZCA whitening (needs `fit`).
        zca_epsilon: Epsilon for ZCA whitening.
        rotation_range: Degree range for random rotations.
        width_shift_range: float (fraction of width, or pixels if >= 1),
            list of choices, or int (pixels, integer steps).
        height_shift_range: Same forms as ``width_shift_range``.
        brightness_range: ``(lo, hi)`` brightness factors, or ``None``.
        shear_range: Shear angle in degrees, counter-clockwise.
        zoom_range: float ``z`` (``[1 - z, 1 + z]``) or ``[lo, hi]``.
        channel_shift_range: Range of random channel shifts.
        fill_mode: ``"constant"``, ``"nearest"``, ``"reflect"`` or ``"wrap"``.
        cval: Fill value for ``fill_mode="constant"``.
        horizontal_flip: Randomly flip inputs horizontally.
        vertical_flip: Randomly flip inputs vertically.
        rescale: Factor multiplied into the data (after augmentation).
        preprocessing_function: Applied to each image after augmentation;
            a TF-traceable function runs in the graph, any other through
            ``tf.numpy_function`` (slower; refused on tf.data service).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None``
            means ``keras.config.image_data_format()``.
        validation_split: Fraction of each class reserved for
            ``subset="validation"``, strictly between 0 and 1.
        interpolation_order: Spline order of the affine transforms (0 or 1).
        dtype: Output dtype; ``None`` means ``keras.config.floatx()``.
    """

    def __init__(
        self,
        featurewise_center: bool = False,
        samplewise_center: bool = False,
        featurewise_std_normalization: bool = False,
        samplewise_std_normalization: bool = False,
        zca_whitening: bool = False,
        zca_epsilon: float = 1e-6,
        rotation_range: float = 0,
        width_shift_range: Any = 0.0,
        height_shift_range: Any = 0.0,
        brightness_range: Any = None,
        shear_range: float = 0.0,
        zoom_range: Any = 0.0,
        channel_shift_range: float = 0.0,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        rescale: float | None = None,
        preprocessing_function: Callable | None = None,
        data_format: str | None = None,
        validation_split: float = 0.0,
        interpolation_order: int = 1,
        dtype: str | None = None,
    ):
        if data_format is None:
            data_format = _validate.data_format(None)
        if data_format not in _validate.DATA_FORMATS:
            raise ValueError(
                '`data_format` should be `"channels_last"` (channel after row and column) '
                'or `"channels_first"` (channel before row and column). '
                + _validate.received("data_format", data_format)
            )
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(
                "`validation_split` must be strictly between 0 and 1. "
                + _validate.received("validation_split", validation_split)
            )
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise TypeError(
                "`preprocessing_function` must be None or a callable taking and returning "
                "one image. " + _validate.received("preprocessing_function", preprocessing_function)
            )
        self.data_format = data_format
        self.dtype = _validate.float_dtype(dtype)
        self._validation_split = validation_split
        self.augment_config = augment_lib.AugmentConfig(
            rotation_range=rotation_range,
            width_shift_range=width_shift_range,
            height_shift_range=height_shift_range,
            brightness_range=brightness_range,
            shear_range=shear_range,
            zoom_range=zoom_range,
            channel_shift_range=channel_shift_range,
            fill_mode=fill_mode,
            cval=cval,
            horizontal_flip=horizontal_flip,
            vertical_flip=vertical_flip,
            interpolation_order=interpolation_order,
        )
        self.standardize_config = standardize_lib.StandardizeConfig(
            rescale=rescale,
            samplewise_center=samplewise_center,
            samplewise_std_normalization=samplewise_std_normalization,
            featurewise_center=featurewise_center,
            featurewise_std_normalization=featurewise_std_normalization,
            zca_whitening=zca_whitening,
            zca_epsilon=zca_epsilon,
        )
        # Keras's public attributes, as Keras normalises them.
        for name, value in vars(self.augment_config).items():
            setattr(self, name, value)
        for name, value in vars(self.standardize_config).items():
            setattr(self, name, value)
        self.zoom_range = list(self.augment_config.zoom_range)
        self.preprocessing_function = preprocessing_function
        if data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None

    # -- iterators --------------------------------------------------------
    def flow(
        self,
        x,
        y=None,
        batch_size=32,
        shuffle=True,
        sample_weight=None,
        seed=None,
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        ignore_class_split=False,
        subset=None,
        **kwargs,
    ) -> NumpyArrayIterator:
        """Iterates over in-memory data ``x`` (rank 4) and labels ``y``.

        Returns:
            A `NumpyArrayIterator` (a ``tf.data.Dataset``) of ``(x, y)`` or
            ``(x, y, sample_weight)`` batches (``x`` alone when ``y`` is
            None), ``x`` cast to ``dtype``.
        """
        return NumpyArrayIterator(
            x,
            y,
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            sample_weight=sample_weight,
            seed=seed,
            data_format=self.data_format,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            ignore_class_split=ignore_class_split,
            subset=subset,
            dtype=self.dtype,
            **kwargs,
        )

    def flow_from_directory(
        self,
        directory,
        target_size=(256, 256),
        color_mode="rgb",
        classes=None,
        class_mode="categorical",
        batch_size=32,
        shuffle=True,
        seed=None,
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        follow_links=False,
        subset=None,
        interpolation="nearest",
        keep_aspect_ratio=False,
        **kwargs,
    ) -> DirectoryIterator:
        """Iterates over a class-per-folder directory.

        ```
        directory/
        ├── class_a/
        │   ├── a_image_1.jpg
        │   └── a_image_2.jpg
        └── class_b/
            ├── b_image_1.jpg
            └── b_image_2.jpg
        ```

        Arguments and defaults are Keras's; extra keyword-only options:
        ``verbose`` (print the ``Found ...`` line, default True), ``fast``
        (DCT-scaled JPEG decode and TF resize: faster, pixels differ from
        Keras's), ``cache`` (``None``, ``"memory"`` or a directory: keep
        decoded images for later epochs), ``deterministic`` (element order
        of the parallel map), ``max_pixels`` (decompression-bomb limit),
        ``exif_orientation`` (turn JPEG/PNG/WebP images upright by their EXIF
        Orientation tag before resizing, as ``PIL.ImageOps.exif_transpose``;
        default False, as Keras), ``device_stage`` (yield uint8 batches and
        run the transform in the model with ``it.device_layer()``).

        Returns:
            A `DirectoryIterator`: a ``tf.data.Dataset`` of
            ``(x, y)`` batches that is also a Keras iterator. ``x`` is
            ``dtype`` ``[B, H, W, C]`` (``[B, C, H, W]`` for
            ``channels_first``), ``C`` = 3 / 4 / 1 for rgb / rgba /
            grayscale; ``y`` is one-hot ``[B, K]`` (categorical), ``[B]``
            (binary, sparse), ``x`` (input) or absent (``None``).
        """
        return DirectoryIterator(
            directory,
            self,
            target_size=target_size,
            color_mode=color_mode,
            classes=classes,
            class_mode=class_mode,
            data_format=self.data_format,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            follow_links=follow_links,
            subset=subset,
            interpolation=interpolation,
            keep_aspect_ratio=keep_aspect_ratio,
            dtype=self.dtype,
            **kwargs,
        )

    def flow_from_dataframe(
        self,
        dataframe,
        directory=None,
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
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        subset=None,
        interpolation="nearest",
        validate_filenames=True,
        **kwargs,
    ) -> DataFrameIterator:
        """Iterates over image files listed in a dataframe, with their targets.

        ```
        dataframe                              directory/  (None: full paths)
        filename          class           w    ├── img_1.png
        "img_1.png"       "cat"           1.0  ├── img_2.jpg
        "img_2.jpg"       ["cat", "dog"]  0.5  └── more/
        "more/img_3.png"  "dog"           2.0      └── img_3.png
        ```

        Arguments and defaults are Keras's. Rows whose file is missing or
        has an unsupported extension are dropped with Keras's warning
        (``validate_filenames=False`` skips the check); ``subset`` takes a
        leading (``"validation"``) or trailing (``"training"``) fraction of
        the remaining rows, in dataframe order. ``class_mode="other"`` and
        the keywords ``has_ext``, ``sort``, ``drop_duplicates`` are
        deprecated as in Keras (a ``DeprecationWarning``; "other" means
        "raw"). Extra keyword-only options, as in `flow_from_directory`:
        ``keep_aspect_ratio``, ``verbose``, ``fast``, ``cache``,
        ``deterministic``, ``max_pixels``, ``on_error``, ``preflight``.

        Args:
            dataframe: A pandas DataFrame (pandas is not imported by
                tfdirpipe; any dataframe with ``columns`` and ``df[name]``
                works).
            directory: Folder the ``x_col`` paths are relative to; ``None``
                for absolute (or working-directory relative) paths.
            x_col: Column of file names or paths (strings).
            y_col: Target column; a list of columns for ``"multi_output"``
                and optionally for ``"raw"``.
            weight_col: Column of sample weights (numeric), or ``None``.
            target_size: ``(height, width)`` the images are resized to.
            color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
            classes: Class names in label order; rows with no listed class
                are dropped. ``None``: the sorted ``y_col`` values.
            class_mode: ``"categorical"``, ``"binary"``, ``"sparse"``,
                ``"input"``, ``"multi_output"``, ``"raw"`` or ``None``.
            batch_size: Samples per batch.
            shuffle: Reshuffle every epoch (epoch 0 with a ``seed`` is
                Keras's order).
            seed: Shuffle and augmentation seed.
            save_to_dir: Folder to save the augmented images to, or
                ``None``; ``save_prefix`` / ``save_format`` name them.
            subset: ``"training"`` or ``"validation"`` (needs
                ``validation_split``).
            interpolation: Resize filter (Keras's names).
            validate_filenames: Drop rows whose file does not exist or has
                an extension outside ``DataFrameIterator.white_list_formats``.
            **kwargs: The extra keyword-only options above.

        Returns:
            A `DataFrameIterator`: a ``tf.data.Dataset`` that is also a
            Keras iterator. ``x`` is ``dtype`` ``[B, H, W, C]`` (``[B, C, H,
            W]`` for ``channels_first``), ``C`` = 3 / 4 / 1 for rgb / rgba /
            grayscale. ``y`` by ``class_mode``:

            - ``"categorical"``: ``[B, K]`` one-hot in ``dtype``; multi-hot
              for rows whose ``y_col`` value is a list of classes.
            - ``"binary"``, ``"sparse"``: ``[B]`` class indices in ``dtype``.
            - ``"raw"``: the ``y_col`` values in the column's dtype, ``[B]``
              (``[B, len(y_col)]`` for a list of columns).
            - ``"multi_output"``: a list with one array per ``y_col`` column.
            - ``"input"``: ``x`` again; ``None``: no ``y``, batches are ``x``.

            With ``weight_col`` batches are ``(x, y, w)`` (except with
            ``class_mode=None``), ``w`` ``[B]`` in the column's dtype.
        """
        for name, message in _DEPRECATED_DATAFRAME_KWARGS.items():
            if name in kwargs:
                kwargs.pop(name)
                warnings.warn(message, DeprecationWarning, stacklevel=2)
        if class_mode == "other":
            warnings.warn(
                '`class_mode="other"` is deprecated, please use `class_mode="raw"`.',
                DeprecationWarning,
                stacklevel=2,
            )
            class_mode = "raw"
        return DataFrameIterator(
            dataframe,
            directory,
            self,
            x_col=x_col,
            y_col=y_col,
            weight_col=weight_col,
            target_size=target_size,
            color_mode=color_mode,
            classes=classes,
            class_mode=class_mode,
            data_format=self.data_format,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            subset=subset,
            interpolation=interpolation,
            validate_filenames=validate_filenames,
            dtype=self.dtype,
            **kwargs,
        )

    # -- the batched graph stage -----------------------------------------
    def batch_scale_and_transform(
        self, data_format: str, augment: bool = True
    ) -> tuple[float | None, Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None]:
        """``(scale, transform)``: `batch_transform` with a leading ``rescale`` split off.

        When ``rescale`` is the first thing applied (no augmentation, no
        ``preprocessing_function``), it can be done while converting the
        uint8 batch to float32 (`pipeline.to_float`, one pass instead of two):
        ``scale`` is then ``rescale`` and ``transform`` the rest (or ``None``).
        Otherwise ``scale`` is ``None`` and ``transform`` is `batch_transform`.
        """
        aug = self.augment_config if augment else augment_lib.AugmentConfig()
        std_config = self.standardize_config
        if aug.is_identity and self.preprocessing_function is None and std_config.rescale:
            rest = dataclasses.replace(std_config, rescale=None)
            return std_config.rescale, self._transform(aug, rest, data_format)
        return None, self._transform(aug, std_config, data_format)

    def batch_transform(
        self, data_format: str, augment: bool = True
    ) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
        """``fn(images, seed) -> images``: augmentation then standardization.

        ``images`` is a float32 batch in ``data_format`` layout; ``seed`` an
        int64 ``[2]`` tensor. ``augment=False`` leaves the random transforms
        out. Returns ``None`` when there is nothing to do.
        """
        aug = self.augment_config if augment else augment_lib.AugmentConfig()
        return self._transform(aug, self.standardize_config, data_format)

    def _transform(
        self, aug: augment_lib.AugmentConfig, std_config: Any, data_format: str
    ) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | None:
        preprocess = _graph_preprocessing(self.preprocessing_function)
        mean, std, zca = self.mean, self.std, self.zca_whitening_matrix
        if aug.is_identity and preprocess is None and _standardize_is_identity(std_config):
            return None

        def transform(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
            if not aug.is_identity:
                shape = tf.shape(images)
                rows, cols = (2, 3) if data_format == "channels_first" else (1, 2)
                params = augment_lib.sample_params(aug, seed, shape[0], shape[rows], shape[cols])
                images = augment_lib.apply(aug, images, params, data_format)
            if preprocess is not None:
                images = preprocess(images)
            return standardize_lib.standardize(std_config, images, mean, std, zca, data_format)

        return transform

    # -- numpy-level methods (Keras's per-image API) ----------------------
    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Applies the normalization configuration in place to a batch or image.

        Same order as Keras: ``preprocessing_function``, ``rescale``,
        samplewise then featurewise centering/normalization, ZCA.
        """
        x = np.asarray(x)
        if self.preprocessing_function is not None:
            x = np.asarray(self.preprocessing_function(x))
        batch = x if x.ndim == 4 else x[None]
        out = standardize_lib.standardize(
            self.standardize_config, tf.constant(batch, tf.float32), self.mean, self.std,
            self.zca_whitening_matrix, self.data_format,
        ).numpy()
        return out if x.ndim == 4 else out[0]

    def get_random_transform(self, img_shape, seed=None) -> dict[str, Any]:
        """A dict of random transform parameters for one image (Keras's keys)."""
        return augment_lib.get_random_transform_single(
            self.augment_config, img_shape, seed=seed, data_format=self.data_format
        )

    def apply_transform(self, x: np.ndarray, transform_parameters: dict[str, Any]) -> np.ndarray:
        """Applies a transform given by Keras-style parameters to one image."""
        return np.asarray(
            augment_lib.apply_transform_single(
                self.augment_config, x, transform_parameters, self.data_format
            )
        )

    def random_transform(self, x: np.ndarray, seed=None) -> np.ndarray:
        """Applies a random transformation to one image."""
        params = self.get_random_transform(np.shape(x), seed)
        return self.apply_transform(x, params)

    def fit(self, x, augment: bool = False, rounds: int = 1, seed=None) -> None:
        """Computes the featurewise statistics (mean, std, ZCA) from data ``x``."""
        self.mean, self.std, self.zca_whitening_matrix = standardize_lib.fit_statistics(
            np.asarray(x), self.standardize_config, augment=augment, rounds=rounds,
            seed=seed, augment_config=self.augment_config, data_format=self.data_format,
        )


def _standardize_is_identity(config) -> bool:
    return not (
        config.rescale
        or config.samplewise_center
        or config.samplewise_std_normalization
        or config.featurewise_center
        or config.featurewise_std_normalization
        or config.zca_whitening
    )


# Keras's flow_from_dataframe keywords that only warn (its wording).
_DEPRECATED_DATAFRAME_KWARGS = {
    "has_ext": "has_ext is deprecated, filenames in the dataframe have "
    "to match the exact filenames in disk.",
    "sort": "sort is deprecated, batches will be created in the"
    "same order than the filenames provided if `shuffle`"
    "is set to `False`.",
    "drop_duplicates": "drop_duplicates is deprecated, you can drop duplicates "
    "by using the pandas.DataFrame.drop_duplicates method.",
}

_WARNED_NOT_TRACEABLE: set[int] = set()


def _graph_preprocessing(fn: Callable | None):
    """Wraps ``preprocessing_function`` to run per image on a batch.

    A function that traces on a symbolic image runs as TF ops; any other
    runs through ``tf.numpy_function`` with a one-time warning.
    """
    if fn is None:
        return None
    try:
        tf.function(fn).get_concrete_function(tf.TensorSpec([None, None, None], tf.float32))
        traceable = True
    except Exception:  # noqa: BLE001 - any failure to trace means "not TF"
        traceable = False
    if traceable:
        return lambda images: tf.map_fn(fn, images, fn_output_signature=tf.float32)
    if id(fn) not in _WARNED_NOT_TRACEABLE:  # once per function, not per graph built
        _WARNED_NOT_TRACEABLE.add(id(fn))
        warnings.warn(
            "`preprocessing_function` is not TF-traceable, so it runs through "
            "tf.numpy_function: slower (Python, one image at a time) and it cannot "
            "run on tf.data service workers.",
            stacklevel=3,
        )

    def per_image(image):
        out = tf.numpy_function(lambda a: np.asarray(fn(a), np.float32), [image], tf.float32)
        return tf.ensure_shape(out, image.shape)

    return lambda images: tf.map_fn(per_image, images, fn_output_signature=tf.float32)
