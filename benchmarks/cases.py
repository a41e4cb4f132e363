"""The benchmark cases: a registry of named input pipelines.

Every case is a `Case`: a name, a one-line description and a `build`
function. `build(setup)` runs in a worker process, outside any timer, and
returns either an `EpochSource` (pipeline cases: a callable that starts one
epoch and yields batches) or an `E2ERunner` (end-to-end `model.fit` cases).
The timing loop lives in `benchmarks.worker` and is the same for every case.

Nothing here imports TensorFlow, Keras or tfdirpipe at module level: a case
imports what it needs inside `build`, so listing cases is cheap and a missing
or half-built package only makes its own cases "unavailable".

Adding a case:

```python
@register("my_case", "what it measures", quick=True)
def _my_case(setup: Setup) -> EpochSource:
    ds = ...                                  # built outside the timer
    return EpochSource(lambda: iter(ds), num_batches=...)
```
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union

__all__ = [
    "CASES",
    "Case",
    "E2ERunner",
    "EpochSource",
    "Setup",
    "e2e_case_names",
    "get_case",
    "pipeline_case_names",
    "register",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class Setup:
    """What a case is built for (one target size)."""

    data_dir: str
    size: int
    batch_size: int = 32
    seed: int = 0
    # End-to-end cases only.
    e2e_warmup_steps: int = 3
    e2e_steps: int = 30

    def __post_init__(self):
        if self.size < 1 or self.batch_size < 1:
            raise ValueError(
                "`size` and `batch_size` must be >= 1. "
                f"Received: size={self.size}, batch_size={self.batch_size}"
            )


@dataclass
class EpochSource:
    """One epoch of a pipeline case.

    Attributes:
        start: Called inside the timer; returns an iterator over one epoch of
            batches. A batch is a tensor/array or a tuple whose first item
            is; its leading dimension is the number of images.
        num_batches: Batches in one epoch (the loop stops there even if the
            iterator would go on).
        check_output: Whether the first batch must look like the drop-in's
            output (float32 `(b, size, size, 3)` in `[0, 1]`, one-hot labels).
        notes: Free-form facts about how the case was built.
        prepare: Called once after building, outside the timer, before the
            warm-up (e.g. to fill a cache).
    """

    start: Callable[[], Iterable[Any]]
    num_batches: int
    check_output: bool = True
    notes: list[str] = field(default_factory=list)
    prepare: Callable[[], None] | None = None


@dataclass
class E2ERunner:
    """An end-to-end `model.fit` case: `run()` trains and returns metrics."""

    run: Callable[[], dict]
    warmup: Callable[[], None]
    notes: list[str] = field(default_factory=list)


Builder = Callable[[Setup], Union[EpochSource, E2ERunner]]


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    kind: Literal["pipeline", "e2e"]
    build: Builder
    in_default: bool = True
    in_quick: bool = True


CASES: dict[str, Case] = {}


def register(
    name: str,
    description: str,
    *,
    kind: Literal["pipeline", "e2e"] = "pipeline",
    default: bool = True,
    quick: bool = True,
) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to `CASES` (in definition order)."""

    def deco(fn: Builder) -> Builder:
        if name in CASES:
            raise ValueError(f"Duplicate benchmark case name. Received: name={name!r}")
        CASES[name] = Case(name, description, kind, fn, default, quick)
        return fn

    return deco


def get_case(name: str) -> Case:
    try:
        return CASES[name]
    except KeyError:
        raise ValueError(
            f"Unknown benchmark case; known cases: {', '.join(CASES)}. Received: {name!r}"
        ) from None


def pipeline_case_names(quick: bool = False) -> list[str]:
    return [
        c.name for c in CASES.values()
        if c.kind == "pipeline" and (c.in_quick if quick else c.in_default)
    ]


def e2e_case_names() -> list[str]:
    return [c.name for c in CASES.values() if c.kind == "e2e" and c.in_default]


# --------------------------------------------------------------------------
# Shared helpers (all run inside workers)
# --------------------------------------------------------------------------


def list_class_dir(directory: str) -> tuple[list[str], list[int], list[str]]:
    """Keras's order: sorted class folders, sorted image files in each."""
    classes = sorted(
        d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d))
    )
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = os.path.join(directory, name)
        for fname in sorted(os.listdir(folder)):
            if fname.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(folder, fname))
                labels.append(label)
    return paths, labels, classes


def _shuffled(paths: list[str], labels: list[int], seed: int):
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(paths))
    return [paths[i] for i in order], [labels[i] for i in order]


# The "typical augmentation set", for the *_augment cases.
AUGMENT = {
    "rotation_range": 20,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 0.2,
    "zoom_range": 0.2,
    "horizontal_flip": True,
}


def _legacy_iterator(setup: Setup, augment: bool = False):
    import tensorflow as tf

    gen = tf.keras.preprocessing.image.ImageDataGenerator(
        rescale=1 / 255, **(AUGMENT if augment else {})
    )
    return gen.flow_from_directory(
        setup.data_dir,
        target_size=(setup.size, setup.size),
        batch_size=setup.batch_size,
        class_mode="categorical",
        seed=setup.seed,
    )


def _idfd_dataset(setup: Setup, ours: bool = False):
    """Keras's image_dataset_from_directory (or tfdirpipe's, same arguments)."""
    import keras
    import tensorflow as tf

    if ours:
        import tfdirpipe

        idfd = tfdirpipe.image_dataset_from_directory
    else:
        idfd = keras.utils.image_dataset_from_directory
    ds = idfd(
        setup.data_dir,
        label_mode="categorical",
        image_size=(setup.size, setup.size),
        batch_size=setup.batch_size,
        seed=setup.seed,
        verbose=False,
    )
    # The tutorial recipe, given its best chance: parallel map + prefetch.
    ds = ds.map(
        lambda x, y: (x * (1.0 / 255.0), y), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)
    return ds


def _tfdirpipe_iterator(setup: Setup, *, fast: bool, cache: str | None, augment: bool = False):
    import tfdirpipe

    gen = tfdirpipe.ImageDataGenerator(rescale=1 / 255, **(AUGMENT if augment else {}))
    return gen.flow_from_directory(
        setup.data_dir,
        target_size=(setup.size, setup.size),
        batch_size=setup.batch_size,
        class_mode="categorical",
        verbose=False,
        fast=fast,
        cache=cache,
    )


def _expected_batches(setup: Setup) -> int:
    paths, _, _ = list_class_dir(setup.data_dir)
    return math.ceil(len(paths) / setup.batch_size)


def _epoch_of(obj, num_batches: int) -> Callable[[], Iterator[Any]]:
    """`for batch in obj`, stopping after `num_batches` (one epoch)."""

    def start():
        def gen():
            for k, batch in enumerate(obj):
                yield batch
                if k + 1 >= num_batches:
                    break

        return gen()

    return start


# --------------------------------------------------------------------------
# Pipeline cases
# --------------------------------------------------------------------------


@register(
    "keras_legacy_fit",
    "Keras legacy ImageDataGenerator.flow_from_directory read by a bare loop, as "
    "PyDatasetAdapter's generator does before fit wraps it in tf.data: it[i] for i in "
    "range(len(it)), then on_epoch_end() (a faster reader than model.fit)",
)
def _keras_legacy_fit(setup: Setup) -> EpochSource:
    return _legacy_index_loop(_legacy_iterator(setup))


def _legacy_index_loop(it) -> EpochSource:
    def start():
        # Keras's PyDatasetAdapter._finite_generator: `for i in
        # range(num_batches): yield py_dataset[i]`, then on_epoch_end(),
        # without the tf.data wrapper fit puts around it
        # (keras_legacy_fit_adapter, the baseline): a faster reader than
        # model.fit, reported as a second, stronger reference.
        def gen():
            for i in range(len(it)):
                yield it[i]
            it.on_epoch_end()

        return gen()

    return EpochSource(start, len(it), notes=["PyDataset index loop (workers=1)"])


@register(
    "keras_legacy_fit_adapter",
    "the same iterator through Keras's own PyDatasetAdapter.get_tf_dataset() "
    "(from_generator + prefetch), exactly what model.fit iterates on the TF backend: "
    "the baseline of every 'vs legacy' ratio",
)
def _keras_legacy_fit_adapter(setup: Setup) -> EpochSource:
    return _fit_adapter_source(_legacy_iterator(setup))


def _fit_adapter_source(it) -> EpochSource:
    try:
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter
    except ImportError as e:  # private path moved: say so rather than guess
        raise RuntimeError(f"Keras PyDatasetAdapter not importable: {e}") from e
    adapter = PyDatasetAdapter(it, shuffle=True)  # fit(shuffle=True) is the default
    ds = adapter.get_tf_dataset()  # reads 2 batches for the spec, as fit does once

    def start():
        def gen():
            adapter.on_epoch_begin()
            try:
                yield from ds
            finally:
                adapter.on_epoch_end()

        return gen()

    return EpochSource(start, len(it), notes=["keras.src PyDatasetAdapter(shuffle=True).get_tf_dataset()"])


@register(
    "keras_legacy_from_generator",
    "tf.data.Dataset.from_generator(lambda: it, output_signature=...).take(len(it))",
)
def _keras_legacy_from_generator(setup: Setup) -> EpochSource:
    import tensorflow as tf

    it = _legacy_iterator(setup)
    signature = (
        tf.TensorSpec((None, setup.size, setup.size, 3), tf.float32),
        tf.TensorSpec((None, it.num_classes), tf.float32),
    )
    ds = tf.data.Dataset.from_generator(lambda: it, output_signature=signature).take(len(it))
    return EpochSource(lambda: iter(ds), len(it))


@register(
    "keras_idfd",
    "keras.utils.image_dataset_from_directory(label_mode='categorical') "
    "+ .map(x/255, AUTOTUNE) + prefetch (bilinear resize, Keras's default)",
)
def _keras_idfd(setup: Setup) -> EpochSource:
    ds = _idfd_dataset(setup)
    n = _expected_batches(setup)
    return EpochSource(_epoch_of(ds, n), n, notes=["interpolation=bilinear (idfd default)"])


@register(
    "tfdirpipe_idfd",
    "tfdirpipe.image_dataset_from_directory with keras_idfd's arguments "
    "+ the same .map(x/255, AUTOTUNE) + prefetch: equal work to keras_idfd",
    quick=False,
)
def _tfdirpipe_idfd(setup: Setup) -> EpochSource:
    ds = _idfd_dataset(setup, ours=True)
    n = _expected_batches(setup)
    return EpochSource(_epoch_of(ds, n), n, notes=["interpolation=bilinear (idfd default)"])


@register(
    "raw_decode_ceiling",
    "tf.data: list -> read_file -> decode_jpeg(channels=3) only, map AUTOTUNE; "
    "no resize, no batching of pixels (the decode ceiling)",
)
def _raw_decode_ceiling(setup: Setup) -> EpochSource:
    import tensorflow as tf

    paths, _, _ = list_class_dir(setup.data_dir)
    paths, _ = _shuffled(paths, [0] * len(paths), setup.seed)

    def decode(path):
        # Return only the shape: the decode kernel runs in full (its output
        # shape is unknown until it has), but no pixels travel to Python.
        return tf.shape(tf.io.decode_jpeg(tf.io.read_file(path), channels=3))

    ds = (
        tf.data.Dataset.from_tensor_slices(paths)
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(setup.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    n = math.ceil(len(paths) / setup.batch_size)
    return EpochSource(_epoch_of(ds, n), n, check_output=False, notes=["JPEG only"])


def handwritten_dct_dataset(setup: Setup, paths=None, labels=None, num_classes=None):
    """The reference hand-written pipeline (also used by tests and docs).

    read -> JPEG header size -> decode_jpeg(ratio=r), r the largest of
    {1, 2, 4, 8} keeping both sides >= target (DCT-domain downscale) ->
    nearest resize to uint8 -> batch -> cast + rescale + one-hot -> prefetch.
    """
    import tensorflow as tf

    if paths is None:
        paths, labels, classes = list_class_dir(setup.data_dir)
        num_classes = len(classes)
        paths, labels = _shuffled(paths, labels, setup.seed)
    s = setup.size

    def load(path, label):
        data = tf.io.read_file(path)
        shape = tf.image.extract_jpeg_shape(data)
        side = tf.minimum(shape[0], shape[1])
        # libjpeg's scaled size is ceil(side / r), which is >= s iff side > r * (s - 1).
        index = (
            tf.cast(side > 2 * (s - 1), tf.int32)
            + tf.cast(side > 4 * (s - 1), tf.int32)
            + tf.cast(side > 8 * (s - 1), tf.int32)
        )
        image = tf.switch_case(
            index,
            [
                (lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r))
                for r in (1, 2, 4, 8)
            ],
        )
        image = tf.image.resize(image, (s, s), method="nearest")  # stays uint8
        return image, label

    def finish(x, y):
        return tf.cast(x, tf.float32) * (1.0 / 255.0), tf.one_hot(y, num_classes)

    return (
        tf.data.Dataset.from_tensor_slices((paths, labels))
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(setup.batch_size)
        .map(finish, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


@register(
    "handwritten_dct",
    "reference tf.data pipeline: read, JPEG header size, decode_jpeg(ratio in "
    "1/2/4/8), nearest resize uint8, batch, cast+rescale, AUTOTUNE, prefetch",
)
def _handwritten_dct(setup: Setup) -> EpochSource:
    ds = handwritten_dct_dataset(setup)
    n = _expected_batches(setup)
    return EpochSource(_epoch_of(ds, n), n)


def _tfdirpipe_source(
    setup: Setup, *, fast: bool, cache: str | None, augment: bool = False
) -> EpochSource:
    it = _tfdirpipe_iterator(setup, fast=fast, cache=cache, augment=augment)
    n = len(it)
    expected = _expected_batches(setup)
    notes = [f"type={type(it).__module__}.{type(it).__qualname__}"]
    if n != expected:
        notes.append(f"len(it)={n} but the directory holds {expected} batches")
    return EpochSource(_epoch_of(it, n), n, notes=notes)


@register("tfdirpipe_default", "tfdirpipe ImageDataGenerator(rescale=1/255).flow_from_directory(...)")
def _tfdirpipe_default(setup: Setup) -> EpochSource:
    return _tfdirpipe_source(setup, fast=False, cache=None)


@register("tfdirpipe_fast", "tfdirpipe flow_from_directory(..., fast=True)")
def _tfdirpipe_fast(setup: Setup) -> EpochSource:
    return _tfdirpipe_source(setup, fast=True, cache=None)


@register(
    "tfdirpipe_fast_first_epoch",
    "tfdirpipe flow_from_directory(..., fast=True), a new iterator every timed epoch: "
    "its first batch includes building and tracing the pipeline",
    quick=False,
)
def _tfdirpipe_fast_first_epoch(setup: Setup) -> EpochSource:
    n = _expected_batches(setup)

    def start():
        return _epoch_of(_tfdirpipe_iterator(setup, fast=True, cache=None), n)()

    return EpochSource(start, n, notes=["fresh iterator per epoch (tracing in first batch)"])


@register(
    "tfdirpipe_cached_epoch2",
    "tfdirpipe flow_from_directory(..., cache='memory'); epoch 1 fills the cache "
    "outside the timer, later epochs are timed",
)
def _tfdirpipe_cached_epoch2(setup: Setup) -> EpochSource:
    source = _tfdirpipe_source(setup, fast=False, cache="memory")

    def fill():
        for _ in source.start():
            pass

    source.prepare = fill
    source.notes.append("epoch 1 (cache fill) untimed")
    return source


@register(
    "keras_legacy_augment",
    "Keras legacy generator with rotation 20, shifts 0.2, shear 0.2, zoom 0.2, "
    "horizontal flip, rescale; read as model.fit reads it (PyDatasetAdapter)",
    quick=False,
)
def _keras_legacy_augment(setup: Setup) -> EpochSource:
    source = _fit_adapter_source(_legacy_iterator(setup, augment=True))
    source.notes.append("augment: " + ", ".join(f"{k}={v}" for k, v in AUGMENT.items()))
    return source


@register(
    "tfdirpipe_augment",
    "tfdirpipe flow_from_directory with the same augmentation as keras_legacy_augment "
    "(batched affine transform in the graph); compared with keras_legacy_augment",
    quick=False,
)
def _tfdirpipe_augment(setup: Setup) -> EpochSource:
    return _tfdirpipe_source(setup, fast=False, cache=None, augment=True)


# --------------------------------------------------------------------------
# End-to-end model.fit cases
# --------------------------------------------------------------------------


def _small_cnn(size: int, num_classes: int):
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def _e2e(setup: Setup, data, num_classes: int, num_batches: int, notes: list[str]) -> E2ERunner:
    """`model.fit(data, steps_per_epoch=...)` timed by a batch-end callback."""
    import time

    import keras

    model = _small_cnn(setup.size, num_classes)
    steps = min(setup.e2e_warmup_steps + setup.e2e_steps, num_batches)
    warm = min(setup.e2e_warmup_steps, max(steps - 2, 1))
    timed = steps - warm

    class _Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.stamps = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.stamps.append(time.perf_counter())

    def fit(num_steps: int) -> list[float]:
        timer = _Timer()
        model.fit(data, epochs=1, steps_per_epoch=num_steps, verbose=0, callbacks=[timer])
        return timer.stamps

    def warmup():
        fit(min(3, steps))  # traces and compiles the train step

    def run() -> dict:
        cpu0 = time.process_time()
        stamps = fit(steps)
        cpu = time.process_time() - cpu0
        span = stamps[-1] - stamps[warm]
        return {
            "steps": steps,
            "timed_steps": timed,
            "steps_per_s": timed / span if span > 0 else None,
            "images_per_s": timed * setup.batch_size / span if span > 0 else None,
            "first_step_s": stamps[1] - stamps[0],
            "fit_wall_s": stamps[-1] - stamps[0],
            "cpu_s": cpu,
        }

    notes.append(f"small CNN, {steps} steps per fit call, last {timed} timed")
    return E2ERunner(run=run, warmup=warmup, notes=notes)


@register("e2e_keras_legacy", "model.fit(legacy flow_from_directory iterator)", kind="e2e")
def _e2e_legacy(setup: Setup) -> E2ERunner:
    it = _legacy_iterator(setup)
    return _e2e(setup, it, it.num_classes, len(it), ["model.fit(it) via PyDatasetAdapter"])


@register("e2e_keras_idfd", "model.fit(image_dataset_from_directory + rescale map)", kind="e2e")
def _e2e_idfd(setup: Setup) -> E2ERunner:
    ds = _idfd_dataset(setup).repeat()
    _, _, classes = list_class_dir(setup.data_dir)
    return _e2e(setup, ds, len(classes), 10**9, ["dataset.repeat()"])


def _e2e_tfdirpipe(setup: Setup, fast: bool) -> E2ERunner:
    it = _tfdirpipe_iterator(setup, fast=fast, cache=None)
    _, _, classes = list_class_dir(setup.data_dir)
    return _e2e(setup, it, len(classes), len(it), ["model.fit(it) on the drop-in object"])


@register("e2e_tfdirpipe_default", "model.fit(tfdirpipe flow_from_directory)", kind="e2e")
def _e2e_tfdirpipe_default(setup: Setup) -> E2ERunner:
    return _e2e_tfdirpipe(setup, fast=False)


@register("e2e_tfdirpipe_fast", "model.fit(tfdirpipe flow_from_directory, fast=True)", kind="e2e")
def _e2e_tfdirpipe_fast(setup: Setup) -> E2ERunner:
    return _e2e_tfdirpipe(setup, fast=True)
