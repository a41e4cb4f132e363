"""``image_dataset_from_directory``: Keras 3's tf.data directory loader, reproduced.

Same signature, defaults, element structure, shapes, dtypes, order, printed
lines and argument errors as ``keras.utils.image_dataset_from_directory``
(Keras 3.15, ``format="tf"``), built from tfdirpipe's listing and decoding:

* the file list is Keras's walk order (`tfdirpipe.listing`) permuted by
  ``np.random.RandomState(seed)`` (a private generator: numpy's global RNG is
  never touched), then ``Dataset.shuffle(batch_size * 8, seed=seed)``, so a
  given ``seed`` yields Keras's order, epoch after epoch;
* pixels are ``tf.image.decode_image`` pixels (`tfdirpipe.decode` with the
  default DCT method) resized by the same TF ops Keras uses: exact for
  ``"rgb"`` and ``"rgba"`` (JPEG, PNG, BMP, GIF), and for gray sources.

Differences from Keras:

* hidden and system entries (``.DS_Store``, ``._*``, ``__MACOSX``,
  ``Thumbs.db``) are neither classes nor samples, and are reported when
  ``verbose``;
* every argument is checked before any I/O, including the conflicts Keras
  only finds later (``crop_to_aspect_ratio`` with ``pad_to_aspect_ratio``,
  ``label_mode="binary"`` with explicit labels or class names that are not
  two classes);
* ``color_mode="grayscale"`` of a colour image is Pillow's luma (the
  shared decoder reproduces the legacy generator), not libpng's (0 or 1
  level lower) nor libjpeg's Y plane (a few levels apart on JPEGs with
  chroma subsampling);
* images declaring more than ``decode.MAX_IMAGE_PIXELS`` pixels are refused
  (decompression bombs);
* images Keras's ``decode_image`` refuses (grayscale GIF or BMP, RGBA GIF
  or JPEG) are decoded and converted instead of failing mid-epoch;
  ``crop_to_aspect_ratio`` also works with ``"gaussian"`` and
  ``"mitchellcubic"``;
* a ``validation_split`` that rounds down to 0 files gives all files to
  training and raises for validation (Keras returns an empty training set
  and *every* file as validation);
* ``labels`` may be a tuple with ``shuffle=True`` and is never shuffled in
  place; ``Using N files for ...`` lines honour ``verbose``;
* ``format="grain"`` raises `NotImplementedError` (use ``format="tf"``);
* the keyword-only ``exif_orientation=True`` turns images upright by their
  EXIF Orientation tag (default off, as Keras).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe import decode as decode_lib
from tfdirpipe import exif as exif_lib
from tfdirpipe import listing, pipeline
from tfdirpipe import remote as remote_lib
from tfdirpipe._printing import print_msg

__all__ = ["NoImagesFoundError", "image_dataset_from_directory"]

ALLOWLIST_FORMATS: tuple[str, ...] = listing.DATASET_FORMATS
INTERPOLATIONS: tuple[str, ...] = (
    "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic",
)
LABEL_MODES: tuple[Any, ...] = ("int", "categorical", "binary", None)
_CHANNELS = _validate.COLOR_CHANNELS


class NoImagesFoundError(FileNotFoundError, ValueError):
    """No image file to load: a `FileNotFoundError` that Keras code catching
    `ValueError` (what Keras raises here) still catches."""


@dataclasses.dataclass(frozen=True)
class _Args:
    """Checked and normalized arguments of one call."""

    directory: str
    labels: Literal["inferred"] | list[int] | None
    label_mode: str | None
    class_names: list[str] | None
    color_mode: str
    batch_size: int | None
    image_size: tuple[int, int]
    shuffle: bool
    seed: int | None
    validation_split: float | None
    subset: str | None
    interpolation: str
    follow_links: bool
    crop_to_aspect_ratio: bool
    pad_to_aspect_ratio: bool
    data_format: str
    verbose: bool
    exif_orientation: bool = False

    @property
    def channels(self) -> int:
        return _CHANNELS[self.color_mode]


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    format="tf",
    verbose=True,
    *,
    exif_orientation=False,
):
    """Generates a `tf.data.Dataset` from image files in a directory.

    A drop-in for ``keras.utils.image_dataset_from_directory``: same
    arguments, elements, order for a ``seed`` and printed lines.

    ```
    main_directory/
    ├── class_a/
    │   ├── a_image_1.jpg
    │   └── more/a_image_2.png
    └── class_b/
        └── b_image_1.jpg
    ```

    With ``labels="inferred"`` the labels are ``0`` for ``class_a`` and ``1``
    for ``class_b``. Files are ``.bmp``, ``.gif``, ``.jpeg``, ``.jpg`` and
    ``.png`` (any case; the format is read from the bytes); animated GIFs
    give their first frame. Hidden and system files are skipped.

    Args:
        directory: Directory where the data is located (a local path or a
            ``scheme://`` URL that ``tf.io.gfile`` reads). With
            ``labels="inferred"`` it holds one subdirectory per class;
            otherwise the structure is ignored.
        labels: ``"inferred"`` (from the subdirectory names), ``None`` (no
            labels) or a list/tuple of integer labels, one per image file in
            the sorted ``os.walk`` order of their paths.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` (exactly 2
            classes) or ``None`` (no labels).
        class_names: With ``labels="inferred"`` only: the class
            subdirectories to use, in label order (default: all, sorted).
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
        batch_size: Batch size, or ``None`` for single samples.
        image_size: ``(height, width)`` (or one int) to resize to.
        shuffle: Shuffle the files (else alphanumeric order).
        seed: Seed of the file shuffle and of the batch shuffle.
        validation_split: Fraction in (0, 1) of files kept for validation.
        subset: ``"training"``, ``"validation"`` or ``"both"`` (returns the
            pair); only with ``validation_split``.
        interpolation: ``tf.image.resize`` method: ``"bilinear"``,
            ``"nearest"``, ``"bicubic"``, ``"area"``, ``"lanczos3"``,
            ``"lanczos5"``, ``"gaussian"``, ``"mitchellcubic"``.
        follow_links: Visit subdirectories that are symlinks.
        crop_to_aspect_ratio: Centre-crop to the target aspect ratio first.
        pad_to_aspect_ratio: Pad (with zeros) to the target aspect ratio
            first.
        data_format: ``"channels_last"``, ``"channels_first"`` or ``None``
            (Keras's ``image_data_format()``).
        format: ``"tf"`` (the only one supported).
        verbose: Print the number of files and classes found.
        exif_orientation: Keyword-only, not in Keras: turn JPEG, PNG and WebP
            images upright by their EXIF Orientation tag before resizing,
            as ``PIL.ImageOps.exif_transpose`` (default False: as Keras,
            whose ``decode_image`` ignores it).

    Returns:
        A `tf.data.Dataset` (a ``(training, validation)`` pair for
        ``subset="both"``) with ``class_names`` (list of str, ``None`` when
        unlabeled) and ``file_paths`` (list of str, in dataset order)
        attributes. Elements, ``B`` the batch size (no batch axis when
        ``batch_size=None``), ``C`` = 3 (rgb), 4 (rgba), 1 (grayscale):

        * images: ``[B, H, W, C]`` (``[B, C, H, W]`` channels first),
          ``float32`` in [0, 255], except ``uint8`` with
          ``interpolation="nearest"`` (as Keras);
        * labels (absent when ``label_mode`` or ``labels`` is ``None``,
          the element is then the images alone): ``"int"``: ``int32 [B]``;
          ``"categorical"``: ``float32 [B, num_classes]`` one-hot;
          ``"binary"``: ``float32 [B, 1]``.

    Raises:
        ValueError: for bad argument values (Keras's messages).
        TypeError: for arguments of the wrong type.
        FileNotFoundError: ``directory`` does not exist.
        NoImagesFoundError: no image file (also a `ValueError`).
        NotImplementedError: ``format="grain"``.
    """
    exif_orientation = _validate.boolean("exif_orientation", exif_orientation)
    args = _check_arguments(
        directory, labels, label_mode, class_names, color_mode, batch_size, image_size,
        shuffle, seed, validation_split, subset, interpolation, follow_links,
        crop_to_aspect_ratio, pad_to_aspect_ratio, data_format, format, verbose,
    )
    args = dataclasses.replace(args, exif_orientation=exif_orientation)
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(10**6))
    paths, label_list, names = _index(args, seed)
    shuffle_buffer_size = args.batch_size * 8 if args.batch_size is not None else 1024

    def build(subset_paths: list[str], subset_labels: Any, shuffle: bool) -> tf.data.Dataset:
        ds = _make_dataset(
            subset_paths, subset_labels, len(names or ()), args, shuffle, shuffle_buffer_size, seed
        )
        ds.class_names = names  # as Keras: plain attributes on the dataset
        ds.file_paths = subset_paths
        return ds

    if args.subset == "both":
        train = _split(paths, label_list, args, "training")
        val = _split(paths, label_list, args, "validation")
        if not train[0]:
            raise NoImagesFoundError(
                f"No training images found in directory {args.directory}. "
                f"Allowed formats: {ALLOWLIST_FORMATS}"
            )
        if not val[0]:
            raise _empty_validation_error(args, len(paths))
        # Keras returns a list; the validation set is never shuffled.
        return [build(*train, args.shuffle), build(*val, False)]

    subset_paths, subset_labels = _split(paths, label_list, args, args.subset)
    if not subset_paths:
        if paths and args.subset == "validation":
            raise _empty_validation_error(args, len(paths))
        raise NoImagesFoundError(
            f"No images found in directory {args.directory}. "
            f"Allowed formats: {ALLOWLIST_FORMATS}"
        )
    return build(subset_paths, subset_labels, args.shuffle)


# ----------------------------------------------------------------------------
# Arguments (no I/O).


def _check_arguments(
    directory, labels, label_mode, class_names, color_mode, batch_size, image_size,
    shuffle, seed, validation_split, subset, interpolation, follow_links,
    crop_to_aspect_ratio, pad_to_aspect_ratio, data_format, format, verbose,
) -> _Args:
    """Checks every argument in Keras's order, then the ones Keras checks late."""
    explicit = not (isinstance(labels, str) and labels == "inferred") and labels is not None
    if explicit:
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, "
                "of the same size as the number of image files in the target "
                "directory. If you wish to infer the labels from the "
                "subdirectory names in the target directory, pass "
                '`labels="inferred"`. If you wish to get a dataset that only '
                "contains images (no labels), pass `labels=None`. "
                f"Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                "You can only pass `class_names` if "
                f'`labels="inferred"`. Received: labels={labels}, and '
                f"class_names={class_names}"
            )
        for value in labels:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise TypeError(
                    "`labels` must hold integer class indices. "
                    + _validate.received("labels", labels)
                )
    if not _hashable(label_mode) or label_mode not in LABEL_MODES:
        raise ValueError(
            '`label_mode` argument must be one of "int", '
            '"categorical", "binary", '
            f"or None. Received: label_mode={label_mode}"
        )
    if labels is None or label_mode is None:
        labels = None
        label_mode = None
        explicit = False
    if not _hashable(color_mode) or color_mode not in _CHANNELS:
        raise ValueError(
            '`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
            f"Received: color_mode={color_mode}"
        )
    image_size = _image_size(image_size)
    if not isinstance(interpolation, str):
        raise TypeError(
            f"Argument `interpolation` should be one of {INTERPOLATIONS}. "
            f"Received: interpolation={interpolation}"
        )
    interpolation = interpolation.lower()
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"Argument `interpolation` should be one of {INTERPOLATIONS}. "
            f"Received: interpolation={interpolation}"
        )
    if format == "grain":
        raise NotImplementedError(
            'tfdirpipe.image_dataset_from_directory has no `format="grain"`: pass '
            '`format="tf"` for a `tf.data.Dataset`, or use '
            '`keras.utils.image_dataset_from_directory(..., format="grain")`. '
            + _validate.received("format", format)
        )
    if format != "tf":
        raise ValueError(
            '`format` should be either "tf" or "grain". '
            f"Received: format={format}"
        )
    _check_validation_split(validation_split, subset, shuffle, seed)

    # Checks Keras makes later (while listing or building the graph), or
    # never: all before any I/O here.
    if class_names is not None:
        if labels is None:
            raise ValueError(
                "When `labels=None` (no labels), argument `class_names` "
                "cannot be specified."
            )
        if explicit:
            raise ValueError(
                "When argument `labels` is specified, argument "
                "`class_names` cannot be specified (the `class_names` "
                "will be the sorted list of labels)."
            )
        if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence) or not all(
            isinstance(name, str) for name in class_names
        ):
            raise TypeError(
                "`class_names` must be None or a list of class subdirectory names. "
                + _validate.received("class_names", class_names)
            )
        class_names = list(class_names)
        if len(set(class_names)) != len(class_names):
            raise ValueError(
                "`class_names` must not repeat a name (Keras would list the "
                "repeated class twice under one label). "
                + _validate.received("class_names", class_names)
            )
    if label_mode == "binary":
        known = class_names
        if explicit:
            known = [str(label) for label in sorted(set(labels))]
        if known is not None and len(known) != 2:
            raise ValueError(
                'When passing `label_mode="binary"`, there must be exactly 2 '
                f"class_names. Received: class_names={known}"
            )
    crop_to_aspect_ratio = _validate.boolean("crop_to_aspect_ratio", crop_to_aspect_ratio)
    pad_to_aspect_ratio = _validate.boolean("pad_to_aspect_ratio", pad_to_aspect_ratio)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(
            "Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio`"
            " can be set to `True`."
        )
    if batch_size is not None:
        batch_size = _validate.positive_int("batch_size", batch_size)
    seed = _validate.optional_seed("seed", seed)
    if verbose is not None and not isinstance(verbose, (bool, numbers.Integral)):
        raise TypeError("`verbose` must be a bool. " + _validate.received("verbose", verbose))
    shuffle = _validate.boolean("shuffle", shuffle)
    follow_links = _validate.boolean("follow_links", follow_links)
    data_format = _data_format(data_format)
    directory = _validate.directory("directory", directory)
    return _Args(
        directory=directory,
        labels=list(labels) if explicit else labels,
        label_mode=label_mode,
        class_names=class_names,
        color_mode=color_mode,
        batch_size=batch_size,
        image_size=image_size,
        shuffle=shuffle,
        seed=seed,
        validation_split=validation_split or None,
        subset=subset,
        interpolation=interpolation,
        follow_links=follow_links,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        pad_to_aspect_ratio=pad_to_aspect_ratio,
        data_format=data_format,
        verbose=bool(verbose),
    )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _image_size(value: Any) -> tuple[int, int]:
    """Keras's check (an int means a square) plus positive ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    elif not isinstance(value, (list, tuple)) or not len(value) == 2:
        raise ValueError(
            "Invalid `image_size` value. Expected a tuple of 2 integers. "
            f"Received: image_size={value}"
        )
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value):
        raise ValueError(
            "Invalid `image_size` value. Expected a tuple of 2 integers "
            f"(positive height and width). Received: image_size={value}"
        )
    return int(value[0]), int(value[1])


def _check_validation_split(validation_split, subset, shuffle, seed) -> None:
    """Keras's ``dataset_utils.check_validation_split_arg``, same messages."""
    if validation_split is not None and (
        isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)
    ):
        raise TypeError(
            "`validation_split` must be None or a float between 0 and 1. "
            + _validate.received("validation_split", validation_split)
        )
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(
            "`validation_split` must be between 0 and 1, "
            f"received: {validation_split}"
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(
            "If `subset` is set, `validation_split` must be set, and inversely."
        )
    if not _hashable(subset) or subset not in ("training", "validation", "both", None):
        raise ValueError(
            '`subset` must be either "training", '
            f'"validation" or "both", received: {subset}'
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must "
            "provide a `seed` argument, to make sure that there is no "
            "overlap between the training and validation subset."
        )


def _data_format(value: Any) -> str:
    """Keras's ``standardize_data_format`` (``None``: Keras's global setting)."""
    if value is None:
        try:
            import keras
        except ImportError:
            return "channels_last"
        return keras.config.image_data_format()
    value = str(value).lower()
    if value not in _validate.DATA_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of "
            "{'channels_first', 'channels_last'}. "
            f"Received: data_format={value}"
        )
    return value


# ----------------------------------------------------------------------------
# Listing and splitting (pure Python).


def keras_permutation(n: int, seed: int) -> np.ndarray:
    """The permutation Keras's ``index_directory`` applies to ``n`` files.

    Keras calls ``np.random.RandomState(seed).shuffle`` on the path list (and
    again, freshly seeded, on the labels); shuffling ``arange(n)`` with a
    private generator draws the same swaps.
    """
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    return order


def _index(args: _Args, seed: int) -> tuple[list[str], Any, list[str] | None]:
    """File paths, labels and class names, in Keras's order for ``seed``."""
    # Remote (scheme://) trees are listed through tf.io.gfile, as Keras does.
    lister = remote_lib if remote_lib.is_remote(args.directory) else listing
    ignored: list[listing.Skipped] = []
    if args.labels == "inferred":
        classes = lister.find_classes(args.directory, ignored)
        if args.class_names is not None:
            if not set(args.class_names).issubset(classes):
                raise ValueError(
                    "The `class_names` passed did not match the "
                    "names of the subdirectories of the target directory. "
                    f"Expected: {classes} (or a subset of it), "
                    f"but received: class_names={args.class_names}"
                )
            classes = args.class_names
        if classes:
            index = lister.list_directory(
                args.directory, classes=classes, extensions=ALLOWLIST_FORMATS,
                follow_links=args.follow_links,
            )
        else:
            index = listing.FileIndex(args.directory, [], [], [], [])
        index.ignored[:0] = ignored
        labels: Any = np.asarray(index.labels, dtype="int32")
        names: list[str] | None = list(classes)
    else:
        index = lister.list_flat(args.directory, ALLOWLIST_FORMATS, args.follow_links)
        if args.labels is None:
            labels, names = None, None
        else:
            labels = args.labels
            if len(labels) != len(index):
                raise ValueError(
                    "Expected the lengths of `labels` to match the number "
                    "of files in the target directory. len(labels) is "
                    f"{len(labels)} while we found {len(index)} files "
                    f"in directory {args.directory}."
                )
            names = [str(label) for label in sorted(set(labels))]
    if names is None:
        print_msg(f"Found {len(index)} files.", args.verbose)
    else:
        print_msg(f"Found {len(index)} files belonging to {len(names)} classes.", args.verbose)
    for line in index.notices():
        print_msg(line, args.verbose)
    if args.label_mode == "binary" and len(names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 '
            f"class_names. Received: class_names={names}"
        )

    paths = list(index.filepaths)
    if args.shuffle:
        order = keras_permutation(len(paths), seed)
        paths = [paths[i] for i in order]
        if isinstance(labels, np.ndarray):
            labels = labels[order]
        elif labels is not None:
            labels = [labels[i] for i in order]
    return paths, labels, names


def _split(paths: list[str], labels: Any, args: _Args, subset: str | None):
    """Keras's ``get_training_or_validation_split``: the last files validate.

    Where ``int(validation_split * n)`` is 0, training keeps every file
    (Keras's ``[:-0]`` slice would keep none, and validation would get all).
    """
    if not args.validation_split:
        return paths, labels
    num_val = int(args.validation_split * len(paths))
    cut = len(paths) - num_val
    if subset == "training":
        print_msg(f"Using {cut} files for training.", args.verbose)
        return paths[:cut], None if labels is None else labels[:cut]
    print_msg(f"Using {num_val} files for validation.", args.verbose)
    return paths[cut:], None if labels is None else labels[cut:]


def _empty_validation_error(args: _Args, n: int) -> ValueError:
    return ValueError(
        f"No validation images: `validation_split={args.validation_split}` of {n} "
        "files rounds down to 0 files. Pass a larger `validation_split`. "
        + _validate.received("validation_split", args.validation_split)
    )


# ----------------------------------------------------------------------------
# The graph (pure TF ops, no py_function).


def _make_dataset(
    paths: list[str],
    labels: Any,
    num_classes: int,
    args: _Args,
    shuffle: bool,
    shuffle_buffer_size: int,
    seed: int,
) -> tf.data.Dataset:
    """Keras's ``_paths_and_labels_to_dataset_tf`` + batch + prefetch.

    The shuffle is Keras's (same cardinality, buffer and seed), so the order
    is Keras's order.
    """
    with_labels = args.label_mode is not None
    if with_labels:
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    else:
        ds = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle:
        ds = ds.shuffle(buffer_size=shuffle_buffer_size, seed=seed)

    def load(path):
        return load_image(
            path, args.image_size, args.color_mode, args.interpolation, args.data_format,
            args.crop_to_aspect_ratio, args.pad_to_aspect_ratio, args.exif_orientation,
        )

    if with_labels:
        mode = args.label_mode

        def element(path, label):
            return load(path), encode_label(label, mode, num_classes)

    else:
        element = load
    if args.batch_size is None:
        ds = pipeline.parallel_map(ds, element)
    elif args.batch_size > pipeline.MAX_UNROLLED_BATCH:  # a batch graph that size is too big
        ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE).batch(args.batch_size)
    else:
        ds = pipeline.parallel_map(ds.batch(args.batch_size), _batch_loader(args, num_classes))
    return ds.prefetch(tf.data.AUTOTUNE)


def _batch_loader(args: _Args, num_classes: int) -> Any:
    """``fn(paths[, labels])`` that loads a whole batch in one map call.

    What ``map(load).batch(batch_size)`` gives, element for element, with
    tf.data's per-element costs (a function call, a batching step: ~50 us
    per image on 2 cores) paid once per batch, and the JPEG header checks
    vectorised over the batch (`pipeline.decode_files`).
    """

    def finish(image: tf.Tensor, contents: tf.Tensor) -> tf.Tensor:
        if args.exif_orientation:
            image = exif_lib.apply_orientation(image, exif_lib.exif_orientation(contents))
        return _resize(
            image, args.image_size, args.interpolation,
            args.crop_to_aspect_ratio, args.pad_to_aspect_ratio,
        )

    def load_batch(paths: tf.Tensor) -> tf.Tensor:
        images = pipeline.decode_files(
            paths, args.batch_size, finish, args.color_mode, args.image_size, dct_method=""
        )
        return _channels_order(
            images, args.image_size, args.channels, args.data_format, batched=True
        )

    if args.label_mode is None:
        return load_batch
    return lambda paths, labels: (
        load_batch(paths), encode_label(labels, args.label_mode, num_classes)
    )


def _read_and_decode(path: tf.Tensor, color_mode: str, exif_orientation: bool = False) -> tf.Tensor:
    """Reads and decodes one file: uint8 ``[H, W, C]``.

    Traced inline into the dataset's map rather than called as a nested
    ``tf.function``: tf.data instantiates a nested function, with Grappler
    over the whole multi-format decoder, for every new iterator (~0.4 s
    before the first batch of every epoch); inline, the map is instantiated
    lean (`pipeline.parallel_map`) and tracing costs ~0.7 s once per
    dataset. Keras decodes with ``tf.image.decode_image``, whose JPEG path
    uses libjpeg's default DCT method (``""``). With ``exif_orientation``
    the pixels are then turned upright (`tfdirpipe.exif`).
    """
    contents = tf.io.read_file(path)
    image = decode_lib.decode_image(contents, color_mode, filename=path, dct_method="")
    if exif_orientation:
        image = exif_lib.apply_orientation(image, exif_lib.exif_orientation(contents))
    return image


def encode_label(label: tf.Tensor, label_mode: str, num_classes: int) -> tf.Tensor:
    """Keras's ``labels_to_dataset_tf`` encodings of one integer label."""
    if label_mode == "binary":
        return tf.expand_dims(tf.cast(label, "float32"), axis=-1)
    if label_mode == "categorical":
        return tf.one_hot(label, num_classes)
    return label


def load_image(
    path: tf.Tensor,
    image_size: tuple[int, int],
    color_mode: str,
    interpolation: str,
    data_format: str = "channels_last",
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    exif_orientation: bool = False,
) -> tf.Tensor:
    """Keras's ``_load_image_tf``: read, decode, resize one image.

    ``exif_orientation`` (not in Keras) turns the decoded image upright by
    its EXIF Orientation tag before cropping, padding or resizing.

    Returns:
        ``[H, W, C]`` (``[C, H, W]`` channels first) ``float32``, or
        ``uint8`` for ``interpolation="nearest"``.
    """
    image = _read_and_decode(path, color_mode, exif_orientation)
    image = _resize(image, image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)
    return _channels_order(image, image_size, _CHANNELS[color_mode], data_format)


def _resize(
    image: tf.Tensor,
    image_size: tuple[int, int],
    interpolation: str,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
) -> tf.Tensor:
    """Keras's crop / pad / plain resize of one decoded image."""
    if crop_to_aspect_ratio:
        return smart_resize(image, image_size, interpolation)
    if pad_to_aspect_ratio:
        return tf.image.resize_with_pad(image, image_size[0], image_size[1], method=interpolation)
    return tf.image.resize(image, image_size, method=interpolation)


def _channels_order(
    images: tf.Tensor,
    image_size: tuple[int, int],
    channels: int,
    data_format: str,
    batched: bool = False,
) -> tf.Tensor:
    """Static shape, and channels first where ``data_format`` says."""
    shape = (*image_size, channels)
    if data_format == "channels_first":
        images = tf.transpose(images, (0, 3, 1, 2) if batched else (2, 0, 1))
        shape = (channels, *image_size)
    return tf.ensure_shape(images, (None, *shape) if batched else shape)


def smart_resize(image: tf.Tensor, size: tuple[int, int], interpolation: str) -> tf.Tensor:
    """``keras.utils.smart_resize`` on a ``[H, W, C]`` tensor, as Keras's TF backend.

    Crops the largest centred window of the target aspect ratio (box
    arithmetic in float32, as Keras does for dynamic shapes), then
    ``tf.image.resize``.
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    target_height, target_width = size
    crop_height = tf.cast(tf.cast(width * target_height, "float32") / target_width, "int32")
    crop_height = tf.maximum(tf.minimum(height, crop_height), 1)
    crop_width = tf.cast(tf.cast(height * target_width, "float32") / target_height, "int32")
    crop_width = tf.maximum(tf.minimum(width, crop_width), 1)
    top = tf.cast(tf.cast(height - crop_height, "float32") / 2, "int32")
    left = tf.cast(tf.cast(width - crop_width, "float32") / 2, "int32")
    image = image[top : top + crop_height, left : left + crop_width, :]
    return tf.image.resize(image, size, method=interpolation)

