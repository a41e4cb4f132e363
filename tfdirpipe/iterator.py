"""Iterators that are both a `tf.data.Dataset` and a Keras legacy iterator.

`BaseIterator` is the only stateful object of the package. It is a
``tf.data.Dataset`` (a ``DatasetV2`` subclass wrapping the epoch graph built
in `pipeline`), so ``model.fit(it)`` runs it as a native dataset, and it also
carries the legacy ``Iterator`` surface: ``len(it)``, ``it[i]``, ``next(it)``,
``reset()``, ``on_epoch_end()`` and the attributes Keras users read.

Epoch bookkeeping lives in one int64 ``tf.Variable`` read inside the graph:
``state = 2 * epoch + started`` where ``started`` says whether a pass over
the data (a ``for`` loop, a ``model.fit`` epoch, a ``next()`` cycle) has
already begun on ``epoch``. Starting a pass claims the current epoch if it is
fresh and the next one otherwise; ``on_epoch_end()`` moves to a fresh next
epoch. Every order and random draw is a pure function of ``(seed, epoch)``.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.data.ops import dataset_ops

from tfdirpipe import _validate
from tfdirpipe import cache as cache_lib
from tfdirpipe import decode as decode_lib
from tfdirpipe import listing
from tfdirpipe import pipeline
from tfdirpipe import save as save_lib
from tfdirpipe._printing import print_msg


class BaseIterator(dataset_ops.DatasetV2):
    """A Keras-style iterator over ``n`` samples that is a ``tf.data.Dataset``.

    Subclasses call `_build` once their attributes are set. One iteration of
    the dataset is one epoch of ``len(self)`` batches; each new iteration
    reshuffles (when ``shuffle``) deterministically from ``(seed, epoch)``.

    With ``save_to_dir`` set (attributes ``save_to_dir``, ``save_prefix``,
    ``save_format``, ``data_format``, read by `_build`), every image of every
    batch the iterator hands out (``model.fit``, ``for``, ``next``, ``it[i]``,
    ``batches_for``) is written by `tfdirpipe.save.save_batch` in a last,
    sequential stage after the prefetch buffer, so a batch is saved when it
    is taken, not ahead of it. The first leaf of a finished batch must be the
    image tensor.
    """

    def _build(
        self,
        n: int,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        load: Callable[[tf.Tensor], Any],
        finish: Callable[[Any, tf.Tensor, bool], Any],
        deterministic: bool | None,
        keras_first_epoch: bool = True,
        load_batch: Callable[[tf.Tensor], Any] | None = None,
    ) -> None:
        """Sets the iterator state and assembles the epoch graph.

        Args:
            n: Number of samples.
            batch_size: Samples per batch.
            shuffle: Reshuffle every epoch.
            seed: The user's seed (``None``: a random one is drawn here,
                without touching numpy's global state).
            load: ``fn(index) -> element`` for one sample (for directories:
                ``(uint8 image HWC, int32 label)``).
            finish: ``fn(batched_elements, seed, augment) -> output batch``;
                ``augment=False`` leaves the random transforms out.
            deterministic: Order of elements inside the parallel map;
                ``None`` means deterministic when a seed is given or
                ``shuffle=False``, free otherwise (faster).
            keras_first_epoch: Reproduce the legacy iterator's first-epoch
                order when ``seed`` is given.
            load_batch: Optional ``fn(indices) -> batched elements``, what
                ``load`` gives for each of ``indices`` (``[1..batch_size]``),
                batched. The epoch graph then loads and finishes each batch
                in one map call (tf.data's per-element costs, ~40 us per
                image, paid once per batch); ``it[i]`` and `batches_for`
                keep ``load``.
        """
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self._seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        if deterministic is None:
            deterministic = seed is not None or not shuffle
        self._deterministic = deterministic
        self._first = (
            pipeline.keras_first_order(n, seed)
            if (shuffle and seed is not None and keras_first_epoch)
            else None
        )
        # The epoch graph (built once, iterated every epoch) calls `load` and
        # `finish` inline: a nested tf.function call would be instantiated,
        # with Grappler, by every new iterator (~0.4 CPU-s per epoch; see
        # `pipeline.parallel_map`). Datasets built later (it[i], batches_for)
        # call these traced-once wrappers instead of re-tracing the decoder.
        self._load_inline, self._finish_inline = load, finish
        self._load_batch_inline = load_batch
        self._load = tf.function(load)
        self._finish = tf.function(finish)
        self._save_spec = save_lib.spec_for(self)
        self._save = None
        if self._save_spec is not None:
            save_spec = self._save_spec

            @tf.function
            def save(output, indices, batch_seed):
                return save_lib.save_batch(output, indices, batch_seed, save_spec)

            self._save = save
        self._state = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="epoch_state")
        self._py_iter = None
        self._dataset = self._epoch_dataset()
        super().__init__(self._dataset._variant_tensor)

    # -- tf.data.Dataset -------------------------------------------------
    def _inputs(self):
        return [self._dataset]

    @property
    def element_spec(self):
        """The structure of one batch (see the class docstring for shapes)."""
        return self._dataset.element_spec

    def _start_epoch(self) -> tf.Tensor:
        state = self._state.read_value()
        fresh = tf.equal(state % 2, 0)
        new_state = tf.where(fresh, state + 1, state + 2)
        with tf.control_dependencies([self._state.assign(new_state)]):
            return tf.identity(new_state // 2)

    def _order(self, epoch: tf.Tensor) -> tf.Tensor:
        return pipeline.epoch_order(self.n, self.shuffle, self._seed, epoch, self._first)

    def _finish_batch(self, elements, indices, batch_seed, augment: bool, finish=None):
        """The finished batch, or ``(batch, indices, seed)`` for `_saved` when saving."""
        output = (finish or self._finish)(elements, batch_seed, augment)
        if self._save is None:
            return output
        return output, indices, batch_seed

    def _saved(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """Writes each batch as it is taken (the stage must stay last and sequential)."""
        if self._save is None:
            return ds
        save = self._save
        ds = ds.map(lambda output, indices, batch_seed: save(output, indices, batch_seed))
        options = tf.data.Options()
        options.experimental_optimization.inject_prefetch = False  # no read-ahead after it
        return ds.with_options(options)

    def _batches(
        self, indices: tf.data.Dataset, epoch, first_batch, augment: bool = True,
        batch_size: int | None = None, prefetch: bool = False,
    ) -> tf.data.Dataset:
        load = self._load
        ds = pipeline.batches_from_indices(
            indices, lambda i: (i, load(i)),
            lambda batch, seed: self._finish_batch(batch[1], batch[0], seed, augment),
            self._seed, epoch, first_batch, batch_size or self.batch_size, self._deterministic,
        )
        if prefetch:
            ds = ds.prefetch(pipeline.AUTOTUNE)
        return self._saved(ds)

    def batches_for(
        self, indices, epoch: int | None = None, augment: bool = True, batch_size: int | None = None
    ) -> tf.data.Dataset:
        """Finished batches of the given sample indices, in that order.

        The building block for gathering a subset or the whole epoch without
        iterating the rest: same decoding, standardization and outputs as the
        iterator itself.

        Args:
            indices: Sample indices (ints in ``[0, n)``), any 1-D array-like.
            epoch: The epoch whose augmentation draws to use (default: the
                current one).
            augment: ``False`` skips the random transforms (standardization
                and ``preprocessing_function`` still apply).
            batch_size: Defaults to the iterator's.
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n):
            raise ValueError(
                f"`indices` must lie in [0, {self.n}). Received: indices with "
                f"min={indices.min()} and max={indices.max()}"
            )
        epoch_t = tf.constant(self.epoch if epoch is None else epoch, tf.int64)
        return self._batches(
            tf.data.Dataset.from_tensor_slices(indices), epoch_t, 0, augment, batch_size,
            prefetch=True,
        )

    def _epoch_dataset(self) -> tf.data.Dataset:
        # Only the light part (epoch number -> order) sits inside flat_map,
        # whose function is re-instantiated every epoch; the decode map and
        # the batch map are built once per iterator.
        def one_epoch(epoch):
            order = tf.data.Dataset.from_tensor_slices(self._order(epoch))
            return order.map(lambda i: (epoch, i))

        load, finish, seed = self._load_inline, self._finish_inline, self._seed
        load_batch = self._load_batch_inline
        ds = tf.data.Dataset.range(1).map(lambda _: self._start_epoch())
        ds = ds.flat_map(one_epoch)
        if load_batch is not None:  # one map call loads and finishes a batch
            ds = ds.batch(self.batch_size)

            def opened(batch):
                epochs, indices = batch
                return epochs, indices, load_batch(indices)

        else:  # images loaded one by one, batched, opened in the batch map
            ds, opened = pipeline.map_and_batch(
                ds, lambda e, i: (e, i, load(i)), self.batch_size, self._deterministic
            )

        def finish_batch(b, batch):
            epochs, indices, elements = opened(batch)  # [B], [B], loaded elements
            batch_seed = pipeline.batch_seed(seed, epochs[0], b)
            return self._finish_batch(elements, indices, batch_seed, True, finish)

        ds = pipeline.parallel_map(ds.enumerate(), finish_batch, self._deterministic)
        ds = ds.apply(tf.data.experimental.assert_cardinality(len(self)))
        ds = self._saved(ds.prefetch(pipeline.AUTOTUNE))
        return ds.with_options(pipeline.dataset_options(self._deterministic))

    # -- construction steps shared by the file-based iterators -----------
    def _set_file_options(
        self, args: dict, image_data_generator, color_mode: str, class_mode, subset,
        interpolation: str, keep_aspect_ratio: bool, save: tuple, fast: bool,
        exif_orientation: Any, max_pixels: int | None, on_error: str,
    ) -> int:
        """Checks the keywords both file iterators share and sets their attributes.

        ``args`` is the validated argument dict (directory, target size,
        layout, dtype, split); ``save`` is ``(save_to_dir, save_prefix,
        save_format)``. Returns ``max_pixels`` with its default applied.
        """
        save_to_dir, save_prefix, save_format = save
        self.save_to_dir = save_lib.validate_save_args(
            save_to_dir, save_prefix, save_format,
            channels=_validate.COLOR_CHANNELS[color_mode],
        )
        self.save_prefix, self.save_format = save_prefix, save_format
        self.exif_orientation = _validate.boolean("exif_orientation", exif_orientation)
        self.image_data_generator = image_data_generator
        self.directory = args["directory"]
        self.target_size = args["target_size"]
        self.data_format = args["data_format"]
        self.dtype = args["dtype"]
        self.split = args["split"]
        self.color_mode = color_mode
        self.class_mode = class_mode
        self.subset = subset
        self.interpolation = interpolation
        self.keep_aspect_ratio = keep_aspect_ratio
        self.fast = fast
        self.on_error = on_error
        return decode_lib.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels

    def _set_image_shape(self, color_mode: str) -> None:
        channels = _validate.COLOR_CHANNELS[color_mode]
        if self.data_format == "channels_last":
            self.image_shape = self.target_size + (channels,)
        else:
            self.image_shape = (channels,) + self.target_size

    def _image_loader(self, filepaths: list[str], cache, max_pixels: int | None, batch_size: int):
        """``(load_image, load_images)``; sets ``load_spec`` and ``image_cache``.

        ``load_image(i)`` is the uint8 image of sample ``i``;
        ``load_images(indices)`` the images of a batch of samples in one call
        (`pipeline.load_images`), or None where only the per-image path
        serves: with a cache (looked up image by image), or as
        `pipeline.batch_loadable` says. The `pipeline.LoadSpec` comes from
        the attributes ``target_size``, ``color_mode``, ``interpolation``,
        ``keep_aspect_ratio``, ``fast`` and ``exif_orientation``.
        """
        self.load_spec = spec = pipeline.LoadSpec(
            target_size=self.target_size,
            color_mode=self.color_mode,
            interpolation=self.interpolation,
            keep_aspect_ratio=self.keep_aspect_ratio,
            fast=self.fast,
            max_pixels=max_pixels,
            exif_orientation=self.exif_orientation,
        )
        self.image_cache = image_cache = cache_lib.make_cache(cache, filepaths, spec)
        paths = tf.constant(filepaths if filepaths else [""], tf.string)

        def load_image(i):
            path = tf.gather(paths, i)
            return image_cache.lookup(i, lambda: pipeline.load_image(path, spec))

        def load_images(indices):
            return pipeline.load_images(tf.gather(paths, indices), spec, batch_size)

        batched = isinstance(image_cache, cache_lib.NoCache) and pipeline.batch_loadable(
            spec, batch_size
        )
        return load_image, load_images if batched else None

    def _batch_specs(
        self, base: pipeline.BatchSpec, device_stage: bool
    ) -> dict[bool, pipeline.BatchSpec]:
        """``{augment: BatchSpec}`` with the generator's transforms, or deferred ones.

        With ``device_stage`` both specs leave images as uint8 and the
        transforms wait in ``_stage_transforms`` for `device_layer`.
        """
        gen = self.image_data_generator
        self.device_stage = device_stage
        if device_stage:  # the whole transform, rescale included, runs in the model
            self._stage_transforms = tuple(
                gen.batch_transform(self.data_format, augment) if gen else None
                for augment in (True, False)
            )
            deferred = dataclasses.replace(base, transform=None, deferred=True)
            return {True: deferred, False: deferred}
        self._stage_transforms = (None, None)
        specs = {}
        for augment in (True, False):
            scale, fn = (
                gen.batch_scale_and_transform(self.data_format, augment) if gen else (None, None)
            )
            specs[augment] = dataclasses.replace(base, transform=fn, scale=scale)
        return specs

    # -- Keras legacy iterator -------------------------------------------
    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    @property
    def epoch(self) -> int:
        """The current epoch: the one ``it[i]`` reads and a fresh pass starts."""
        return int(self._state.numpy()) // 2

    @property
    def index_array(self) -> np.ndarray:
        """Sample order of the current epoch (``int64 [n]``)."""
        return self._order(tf.constant(self.epoch, tf.int64)).numpy()

    def __getitem__(self, idx: int):
        """Batch ``idx`` of the current epoch as numpy arrays (random access)."""
        if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
            raise TypeError(f"Batch index must be an int. Received: idx={idx!r}")
        if idx < 0 or idx >= len(self):
            raise ValueError(
                f"Asked to retrieve element {idx}, but the Sequence has length {len(self)}"
            )
        self.total_batches_seen += 1
        epoch = tf.constant(self.epoch, tf.int64)
        order = self._order(epoch)[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch = next(iter(self._batches(tf.data.Dataset.from_tensor_slices(order), epoch, idx)))
        return _to_numpy(batch)

    def __next__(self):
        """The next batch as numpy arrays, cycling through epochs forever."""
        if self.n == 0:
            self.total_batches_seen += 1
            return self._empty_batch()
        if self._py_iter is None:
            self._py_iter = iter(self)
        try:
            batch = next(self._py_iter)
        except StopIteration:
            self._py_iter = iter(self)
            batch = next(self._py_iter)
        self.total_batches_seen += 1
        self.batch_index = (self.batch_index + 1) % len(self)
        return _to_numpy(batch)

    def next(self):
        """Same as ``next(it)`` (the legacy method name)."""
        return self.__next__()

    def reset(self) -> None:
        """Restarts ``next()`` at the first batch of a new epoch."""
        self.batch_index = 0
        self._py_iter = None

    def on_epoch_end(self) -> None:
        """Moves ``it[i]`` (and the next pass) to a fresh, reshuffled epoch."""
        self._state.assign((self._state.read_value() // 2 + 1) * 2)

    def device_layer(self, device: str | None = None):
        """The rescale / augment / standardize stage as a Keras layer for the model.

        Needs ``device_stage=True`` (``flow_from_directory``, ``flow_from_dataframe``): the iterator
        then yields uint8 batches (4x less to copy to an accelerator) and this
        layer, placed first in the model, applies the generator's transform
        on the model's device (the GPU when there is one), augmenting only
        in training. See `tfdirpipe.DeviceStage`.

        Args:
            device: Force a device (``"/GPU:0"``, ``"/CPU:0"``); default: the
                device the model runs on.
        """
        if not getattr(self, "device_stage", False):
            raise ValueError(
                "`device_layer()` needs an iterator made with "
                "`flow_from_directory(..., device_stage=True)` (or flow_from_dataframe); "
                "this one applies the transform inside tf.data. Received: device_stage=False"
            )
        from tfdirpipe.device_stage import DeviceStage

        transform, plain = self._stage_transforms
        return DeviceStage(
            transform, plain, output_dtype=self.dtype, seed=self._seed, device=device
        )

    # -- whole-dataset helpers (see materialize and distribute) -----------
    def to_numpy(self, path=None, **kwargs):
        """The whole epoch as arrays ``(x, y)``; see `tfdirpipe.materialize.to_numpy`.

        With ``path`` the arrays are written batch by batch to ``.npy`` files
        and returned memory-mapped, in bounded memory.
        """
        from tfdirpipe import materialize

        return materialize.to_numpy(self, path, **kwargs)

    def class_counts(self) -> dict:
        """Samples per class name; see `tfdirpipe.materialize.class_counts`."""
        from tfdirpipe import materialize

        return materialize.class_counts(self)

    def class_weight(self) -> dict:
        """Keras-ready balanced ``class_weight``; see `tfdirpipe.materialize.class_weight`."""
        from tfdirpipe import materialize

        return materialize.class_weight(self)

    def distribute(self, service: str, **kwargs) -> tf.data.Dataset:
        """This pipeline processed by tf.data service workers at ``service``.

        See `tfdirpipe.distribute.service_dataset` for the options.
        """
        from tfdirpipe import distribute

        return distribute.service_dataset(self, service, **kwargs)

    def _empty_batch(self):
        spec = self.element_spec
        return tf.nest.map_structure(
            lambda s: np.zeros([0, *s.shape[1:]], s.dtype.as_numpy_dtype), spec
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} n={self.n} batch_size={self.batch_size} batches={len(self)}>"


def _to_numpy(batch):
    return tf.nest.map_structure(lambda t: t.numpy(), batch)


class DirectoryIterator(BaseIterator):
    """Iterator over a class-per-folder directory (``flow_from_directory``).

    Same constructor, attributes and outputs as Keras's legacy
    ``DirectoryIterator``; create it with
    `tfdirpipe.ImageDataGenerator.flow_from_directory`.

    ```
    directory/
    ├── cat/  001.jpg 002.png ...
    └── dog/  003.jpg ...
    ```

    Returns (per batch, ``B <= batch_size``):
        ``x``: ``dtype`` ``[B, *image_shape]``; ``image_shape`` is
        ``target_size + (C,)`` (``channels_last``) or ``(C,) + target_size``
        with ``C`` = 3 (rgb), 4 (rgba), 1 (grayscale).
        ``y`` by ``class_mode``: categorical ``[B, num_classes]`` one-hot,
        binary / sparse ``[B]``, both ``dtype``; input: ``x`` again; None:
        no ``y`` (the batch is ``x`` alone).
    """

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}
    white_list_formats = listing.LEGACY_FORMATS

    def __init__(
        self,
        directory,
        image_data_generator,
        target_size=(256, 256),
        color_mode="rgb",
        classes=None,
        class_mode="categorical",
        batch_size=32,
        shuffle=True,
        seed=None,
        data_format=None,
        save_to_dir=None,
        save_prefix="",
        save_format="png",
        follow_links=False,
        subset=None,
        interpolation="nearest",
        keep_aspect_ratio=False,
        dtype=None,
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
        args = _validate_directory_args(
            directory, image_data_generator, target_size, color_mode, classes, class_mode,
            batch_size, shuffle, seed, data_format, follow_links, subset,
            interpolation, keep_aspect_ratio, dtype, fast, cache, deterministic,
        )
        _validate.one_of("on_error", on_error, _validate.ON_ERROR)
        if preflight is not None:
            _validate.boolean("preflight", preflight)
        max_pixels = self._set_file_options(
            args, image_data_generator, color_mode, class_mode, subset, interpolation,
            keep_aspect_ratio, (save_to_dir, save_prefix, save_format), fast,
            exif_orientation, max_pixels, on_error,
        )

        lister = listing.list_directory
        if _validate.is_remote(self.directory):
            from tfdirpipe import remote

            lister = remote.list_directory  # tf.io.gfile: gs://, s3:// (tensorflow-io), ...
        index = lister(
            self.directory, classes=classes, extensions=self.white_list_formats,
            follow_links=follow_links, split=self.split,
        )
        self.skipped = _find_bad(index, on_error, preflight, color_mode, max_pixels)
        if self.skipped and on_error != "raise":
            keep = _kept(index.filepaths, self.skipped)
            index = dataclasses.replace(
                index,
                filenames=[index.filenames[i] for i in keep],
                filepaths=[index.filepaths[i] for i in keep],
                labels=[index.labels[i] for i in keep],
            )
            _report_skipped(self.skipped, on_error, verbose)
        self.file_index = index
        self.filenames = index.filenames
        self._filepaths = index.filepaths
        self.classes = np.asarray(index.labels, dtype="int32")
        self.class_indices = {name: i for i, name in enumerate(index.class_names)}
        self.num_classes = len(index.class_names)
        self.samples = len(index)
        for line in index.notices():
            print_msg(line, verbose)
        print_msg(f"Found {self.samples} images belonging to {self.num_classes} classes.", verbose)

        self._set_image_shape(color_mode)
        load_image, load_images = self._image_loader(
            self._filepaths, cache, max_pixels, args["batch_size"]
        )
        labels = tf.constant(self.classes if self.samples else [0], tf.int32)

        def load(i):
            return load_image(i), tf.gather(labels, i)

        def load_batch(indices):
            return load_images(indices), tf.gather(labels, indices)

        specs = self._batch_specs(
            pipeline.BatchSpec(
                batch_size=args["batch_size"],
                class_mode=class_mode,
                num_classes=self.num_classes,
                dtype=self.dtype,
                data_format=self.data_format,
            ),
            device_stage,
        )
        self.batch_spec = specs[True]

        def finish(batch, seed, augment):
            return pipeline.finish_batch(batch[0], batch[1], seed, specs[augment])

        self._build(
            self.samples, args["batch_size"], shuffle, seed, load, finish, deterministic,
            load_batch=load_batch if load_images else None,
        )

    @property
    def filepaths(self) -> list[str]:
        """Absolute (``directory``-joined) path of every sample."""
        return self._filepaths

    @property
    def labels(self) -> np.ndarray:
        """Class index of every sample (``int32 [samples]``), same as ``classes``."""
        return self.classes

    @property
    def sample_weight(self) -> None:
        """Directory iterators have no sample weights (always ``None``)."""
        return None


class BadImageError(ValueError):
    """Files that cannot be loaded; ``.files`` lists each path and reason."""

    def __init__(self, files: list[listing.Skipped]):
        self.files = files
        shown = "\n".join(f"  {s.path}: {s.reason}" for s in files[:20])
        more = f"\n  ... and {len(files) - 20} more" if len(files) > 20 else ""
        super().__init__(
            f"{len(files)} file(s) cannot be loaded:\n{shown}{more}\n"
            "Fix or remove them, or pass on_error='skip' (or 'warn') to leave them out "
            "and list them in `.skipped`."
        )


def _find_bad(index, on_error, preflight, color_mode, max_pixels) -> list[listing.Skipped]:
    """Dangling links plus, when checked, every file that does not load."""
    from tfdirpipe import preflight as preflight_lib

    bad = list(index.dangling)
    if preflight if preflight is not None else on_error != "raise":
        bad += preflight_lib.find_bad_files(index.filepaths, color_mode, max_pixels)
    if bad and on_error == "raise":
        raise BadImageError(bad)
    return bad


def _kept(filepaths: list[str], skipped: list[listing.Skipped]) -> list[int]:
    """Positions of the files not in ``skipped``, in order."""
    bad = {s.path for s in skipped}
    return [i for i, p in enumerate(filepaths) if p not in bad]


def _validate_device_stage(device_stage, class_mode) -> bool:
    device_stage = _validate.boolean("device_stage", device_stage)
    if device_stage and class_mode == "input":
        raise ValueError(
            '`device_stage=True` cannot be used with class_mode="input" (the target '
            "would be the untransformed uint8 batch). Received: device_stage=True"
        )
    return device_stage


def _report_skipped(skipped, on_error, verbose) -> None:
    if on_error == "warn":
        for s in skipped:
            warnings.warn(f"Skipping {s.path}: {s.reason}", stacklevel=4)
    print_msg(
        f"Skipped {len(skipped)} file(s) that cannot be loaded (listed in `.skipped`): "
        + "; ".join(f"{s.path} ({s.reason})" for s in skipped[:5])
        + ("; ..." if len(skipped) > 5 else ""),
        verbose,
    )


def _validate_directory_args(
    directory, image_data_generator, target_size, color_mode, classes, class_mode,
    batch_size, shuffle, seed, data_format, follow_links, subset,
    interpolation, keep_aspect_ratio, dtype, fast, cache, deterministic,
) -> dict[str, Any]:
    """Checks every ``flow_from_directory`` argument before any I/O."""
    from tfdirpipe import resize

    out: dict[str, Any] = {}
    out["target_size"] = _validate.size_pair("target_size", target_size)
    _validate.color_mode(color_mode)
    if class_mode not in DirectoryIterator.allowed_class_modes:
        raise ValueError(
            "Invalid class_mode: expected one of 'categorical', 'binary', 'sparse', "
            "'input', None. " + _validate.received("class_mode", class_mode)
        )
    if classes is not None and (
        isinstance(classes, (str, bytes)) or not all(isinstance(c, str) for c in classes)
    ):
        raise TypeError(
            "`classes` must be None or a list of class subfolder names. "
            + _validate.received("classes", classes)
        )
    out["batch_size"] = _validate.positive_int("batch_size", batch_size)
    _validate.boolean("shuffle", shuffle)
    _validate.optional_seed("seed", seed)
    _validate.boolean("follow_links", follow_links)
    _validate.boolean("keep_aspect_ratio", keep_aspect_ratio)
    _validate.boolean("fast", fast)
    if deterministic is not None:
        _validate.boolean("deterministic", deterministic)
    resize.validate_interpolation(interpolation)
    out["data_format"] = _validate.data_format(data_format)
    out["dtype"] = _validate.float_dtype(dtype)
    cache_lib.validate_cache(cache)
    out["split"] = _validate.subset_split(subset, image_data_generator)
    out["directory"] = _validate.directory("directory", directory)
    return out
