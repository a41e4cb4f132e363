"""tf.data service and tf.distribute helpers for directory iterators.

Two ways to spread one `DirectoryIterator`'s work past one process:

* `service_dataset` (also ``it.distribute(service=...)``): batches are read,
  decoded, augmented and assembled by tf.data service workers (start them
  with ``tfdirpipe serve``, see `tfdirpipe.serve`), and this process only
  receives finished batches.
* `input_fn_for` / `shard_dataset`: for
  ``strategy.distribute_datasets_from_function`` (``MultiWorkerMirroredStrategy``
  and friends): each input pipeline keeps a disjoint slice of the file list
  before anything is decoded.

How one tf.data service epoch runs::

    this process (client)                       tf.data service workers
    ---------------------                       -----------------------
    epoch e  <- the iterator's epoch counter
    order(seed, e): int64 [n]   --register-->   range(num_batches)  (split source:
                                                one split = one batch index b)
                                                b -> files order[b*B : (b+1)*B]
                                                -> read, decode, resize
                                                -> finish_batch(seed(seed, e, b))
    ledger: count b, drop repeats <-(batch, b)-
    end of job: report; rebuild any
    missing b here (same function)

Each epoch is one service job of a dataset whose only inputs are constants
(file paths, labels, that epoch's order, ``e``): no ``tf.Variable``, no
Python. Batch ``b`` of epoch ``e`` is exactly the batch the in-process
iterator produces for ``(seed, e, b)`` (same files, same augmentation
draws); only the order in which batches arrive changes. Splitting by batch
also means one dispatcher round trip per batch rather than per image, and
lets the client account for every batch: TensorFlow's dynamic sharding is
at-most-once (a worker that dies loses the batches it held), so by default
the client rebuilds the missing ones itself and warns, and every epoch has
exactly ``len(it)`` batches.

What the client keeps (the epoch counter and the ledger) never leaves this
process, so the iterator's ``cache=`` (a ``tf.Variable``) and a Python
``preprocessing_function`` (``tf.numpy_function``) are refused up front: the
workers could not run them.
"""

from __future__ import annotations

import dataclasses
import numbers
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe import cache as cache_lib
from tfdirpipe import pipeline

__all__ = [
    "PROCESSING_MODES",
    "EpochReport",
    "IncompleteEpochWarning",
    "ServiceStallWarning",
    "epoch_dataset",
    "input_fn_for",
    "service_dataset",
    "shard_dataset",
]

ProcessingMode = Literal["dynamic", "off", "data", "file_or_data"]
OnIncomplete = Literal["recover", "warn", "raise", "ignore"]

# Accepted `processing_mode` values, in the order messages list them.
PROCESSING_MODES: tuple[str, ...] = ("dynamic", "off", "data", "file_or_data")
_ALIASES = {"distributed_epoch": "dynamic", "parallel_epochs": "off"}
ON_INCOMPLETE: tuple[str, ...] = ("recover", "warn", "raise", "ignore")
TARGET_WORKERS: tuple[str, ...] = ("AUTO", "ANY", "LOCAL")
_PY_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
_MAX_REPORTS = 1000


class IncompleteEpochWarning(UserWarning):
    """An epoch served by tf.data service ended with batches missing or repeated.

    Attributes:
        report: The `EpochReport` of that epoch.
    """

    def __init__(self, message: str, report: EpochReport):
        super().__init__(message)
        self.report = report


class ServiceStallWarning(UserWarning):
    """No batch arrived from tf.data service for ``stall_timeout`` seconds."""


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """What arrived from the tf.data service during one epoch.

    Attributes:
        epoch: The iterator epoch.
        expected_batches: Batches the epoch has (``len(it)``).
        received_batches: Distinct batches that arrived.
        expected_files: Files in the epoch (``it.n``).
        received_files: Files in the batches that arrived (distinct batches).
        missing_batches: Batch indices that never arrived.
        missing_files: Paths of the files in the missing batches.
        repeated_batches: Batch indices that arrived more than once (only
            counted where each batch should arrive once, i.e. not with
            ``processing_mode="off"``).
        seconds: Wall time from the start of the epoch to its end.
        shared_job: The epoch's job was shared with other clients
            (``job_name``): this client received only its part, so missing
            batches are not a loss and are not warned about.
        recovered: The missing batches were rebuilt in this process
            (``on_incomplete="recover"``), so the epoch had all its batches.
    """

    epoch: int
    expected_batches: int
    received_batches: int
    expected_files: int
    received_files: int
    missing_batches: tuple[int, ...]
    missing_files: tuple[str, ...]
    repeated_batches: tuple[int, ...]
    seconds: float
    shared_job: bool = False
    recovered: bool = False

    @property
    def complete(self) -> bool:
        """Every batch arrived, and none twice where once was expected.

        Always False for a shared job in which another client took batches.
        """
        return not self.missing_batches and not self.repeated_batches


# ---------------------------------------------------------------------------
# What a pipeline needs from the iterator, checked up front
# ---------------------------------------------------------------------------


def _check_iterator(it: Any, what: str, *, on_service: bool) -> None:
    """Refuses iterators whose pipeline cannot be rebuilt where ``what`` runs it."""
    needed = ("filepaths", "classes", "load_spec", "batch_spec", "_order", "_seed")
    if not all(hasattr(it, name) for name in needed):
        raise TypeError(
            f"`{what}` needs a DirectoryIterator (from `flow_from_directory`): its files "
            "are what the workers read. The arrays of a NumpyArrayIterator (`flow`) live in "
            "this process; write them to a class-per-folder directory, or feed "
            "`tf.data.Dataset.from_tensor_slices((x, y))` to tf.data directly. "
            + _validate.received("it", it)
        )
    if not on_service:
        return
    if getattr(it, "save_to_dir", None) is not None:
        raise ValueError(
            "tf.data service workers cannot `save_to_dir`: they would write the images "
            "on their own machines, and only the batches reach this process. Create the "
            "iterator for the service without `save_to_dir`, and preview augmented images "
            "with an in-process iterator that has it (`next(it)` or `it[i]` save the "
            "batches they return). " + _validate.received("save_to_dir", it.save_to_dir)
        )
    cache = getattr(it, "image_cache", None)
    if cache is not None and not isinstance(cache, cache_lib.NoCache):
        value = "memory" if isinstance(cache, cache_lib.MemoryCache) else getattr(
            cache, "folder", "<directory>"
        )
        raise ValueError(
            "tf.data service workers cannot use the iterator's image cache: what is "
            "cached, and which images are, lives in tf.Variables of this process. Create "
            "the iterator with `cache=None` for the service (each worker decodes every "
            "epoch; add workers to keep up), or train in-process with the cache. "
            + _validate.received("cache", value)
        )
    transform = getattr(it.batch_spec, "transform", None)
    if transform is not None:
        problem = _graph_problem(transform, tuple(it.image_shape))
        if problem:
            raise ValueError(
                f"tf.data service workers cannot run this ImageDataGenerator's batch "
                f"transform: {problem}. The usual cause is `preprocessing_function`: "
                "pass one written with TensorFlow ops (it then runs in the graph), or "
                "apply it after the service, e.g. `ds.map(lambda x, y: (f(x), y))` on "
                "the dataset `service_dataset` returns (that map runs in this process, "
                "after rescale and standardization rather than before). "
                + _validate.received(
                    "preprocessing_function",
                    getattr(getattr(it, "image_data_generator", None),
                            "preprocessing_function", None),
                )
            )


def _graph_problem(transform: Callable, image_shape: tuple[int, ...]) -> str | None:
    """Why ``transform`` cannot be serialized to another process, or None."""
    try:
        concrete = tf.function(transform).get_concrete_function(
            tf.TensorSpec([None, *image_shape], tf.float32), tf.TensorSpec([2], tf.int64)
        )
    except Exception as err:  # noqa: BLE001 - any tracing failure is the answer
        return f"it does not trace as a TensorFlow graph ({type(err).__name__}: {err})"
    graph_def = concrete.graph.as_graph_def()
    ops = {node.op for node in graph_def.node}
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    py_ops = sorted(ops & _PY_OPS)
    if py_ops:
        return f"it calls Python through {', '.join(py_ops)} (tf.numpy_function / tf.py_function)"
    if any(t.dtype == tf.resource for t in concrete.captured_inputs):
        return "it reads tf.Variables of this process (e.g. a Keras layer's weights)"
    return None


# ---------------------------------------------------------------------------
# The variable-free pipeline of one epoch
# ---------------------------------------------------------------------------


def _num_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size


def _batch_sizes(n: int, batch_size: int) -> np.ndarray:
    sizes = np.full(_num_batches(n, batch_size), batch_size, np.int64)
    if n % batch_size:
        sizes[-1] = n % batch_size
    return sizes


def _pure_batches(
    it, order: tf.Tensor, epoch_pair: tf.Tensor, batch_ids: tf.Tensor | None = None
) -> tf.data.Dataset:
    """``(batch, b)`` for batch indices ``b`` of ``order``; only constants inside.

    The source is ``range(num_batches)`` (or the non-negative entries of
    ``batch_ids``), so tf.data service's dynamic sharding hands out whole
    batches. Batch ``b`` holds the files ``order[b*B : (b+1)*B]`` and is
    finished with `pipeline.batch_seed` of ``(seed, epoch, b)``, exactly
    like the in-process iterator's batch ``b``. Scalars come as int64
    ``[2]`` pairs (``[epoch, epoch]``): array constants, so a serialized copy
    can be re-targeted by rewriting their bytes (see `_Template`).
    """
    n = it.n
    batch_size = it.batch_size
    spec = it.load_spec
    batch_spec = it.batch_spec
    seed = it._seed
    paths = tf.constant(list(it.filepaths) if n else [""], tf.string)
    labels = tf.constant(np.asarray(it.classes, np.int32) if n else [0], tf.int32)
    image_spec = tf.TensorSpec(spec.image_shape, tf.uint8)

    def load_batch(b):
        epoch = epoch_pair[0]
        start = b * batch_size
        indices = order[start : tf.minimum(start + batch_size, n)]
        images = tf.map_fn(
            lambda i: pipeline.load_image(tf.gather(paths, i), spec),
            indices,
            fn_output_signature=image_spec,
            parallel_iterations=batch_size,
        )
        batch = pipeline.finish_batch(
            images, tf.gather(labels, indices), pipeline.batch_seed(seed, epoch, b), batch_spec
        )
        return batch, b

    if batch_ids is None:
        ds = tf.data.Dataset.range(_num_batches(n, batch_size))
    else:
        ds = tf.data.Dataset.from_tensor_slices(batch_ids).filter(lambda b: b >= 0)
    return pipeline.parallel_map(ds, load_batch, it._deterministic)


def epoch_dataset(it, epoch: int, *, with_batch_index: bool = False) -> tf.data.Dataset:
    """The variable-free pipeline of one epoch: what one tf.data service job runs.

    The same batches as iterating ``it`` at ``epoch`` (same files, labels,
    augmentation draws), in the same order, built only from constants, so it
    can be serialized to another process. Useful to check a pipeline before
    serving it.

    Args:
        it: A `DirectoryIterator`.
        epoch: The epoch (``>= 0``) whose order and augmentation to use.
        with_batch_index: Also yield the batch index ``b`` (int64 scalar).

    Returns:
        A dataset of ``len(it)`` batches with ``it.element_spec``, or
        ``(batch, b)`` pairs.
    """
    _check_iterator(it, "epoch_dataset", on_service=True)
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise ValueError(
            "`epoch` must be an int >= 0. " + _validate.received("epoch", epoch)
        )
    epoch_t = tf.constant(int(epoch), tf.int64)
    ds = _pure_batches(it, it._order(epoch_t), tf.stack([epoch_t, epoch_t]))
    if not with_batch_index:
        ds = ds.map(lambda batch, b: batch)
    ds = ds.apply(tf.data.experimental.assert_cardinality(len(it)))
    return ds.with_options(pipeline.dataset_options(it._deterministic))


# ---------------------------------------------------------------------------
# tf.data service
# ---------------------------------------------------------------------------


def _validate_service_args(
    service, processing_mode, job_name, epochs, compression, target_workers,
    max_outstanding_requests, task_refresh_interval_ms, on_incomplete, stall_timeout,
) -> str:
    """Checks every `service_dataset` argument; returns the processing mode name."""
    if not isinstance(service, (str, tuple)) or isinstance(service, tuple) and (
        len(service) != 2 or not all(isinstance(s, str) for s in service)
    ):
        raise TypeError(
            "`service` must be the dispatcher address as a string, e.g. "
            "'grpc://localhost:5050' or 'localhost:5050', or a (protocol, address) "
            "pair. " + _validate.received("service", service)
        )
    address = service[1] if isinstance(service, tuple) else service.split("://", 1)[-1]
    if not address or ":" not in address:
        raise ValueError(
            "`service` must name the dispatcher as host:port, e.g. 'grpc://localhost:5050' "
            "(see `tfdirpipe serve dispatcher`). " + _validate.received("service", service)
        )
    mode = processing_mode
    if isinstance(mode, tf.data.experimental.service.ShardingPolicy):
        mode = mode.name.lower()
    mode = _ALIASES.get(mode, mode)
    if mode in ("file", "hint"):
        needs = (
            "file-reading source datasets (TFRecord, text)" if mode == "file"
            else "`shard(SHARD_HINT, ...)` calls"
        )
        raise ValueError(
            f"processing_mode={processing_mode!r} cannot shard this pipeline: TensorFlow's "
            f"{mode.upper()} sharding needs {needs} "
            "and tfdirpipe reads images inside a map over batch indices. Use "
            "'dynamic' (each batch once, any number of workers) or 'data' (static "
            "shards; needs the dispatcher's fixed worker list). "
            + _validate.received("processing_mode", processing_mode)
        )
    if mode not in PROCESSING_MODES:
        raise ValueError(
            "Invalid processing_mode: `processing_mode` must be one of "
            + ", ".join(repr(m) for m in PROCESSING_MODES)
            + " (or a tf.data.experimental.service.ShardingPolicy). "
            + _validate.received("processing_mode", processing_mode)
        )
    if job_name is not None and (not isinstance(job_name, str) or not job_name):
        raise TypeError(
            "`job_name` must be None (a private job per epoch) or a non-empty string "
            "(clients with the same name share each epoch's job). "
            + _validate.received("job_name", job_name)
        )
    if epochs is not None:
        _validate.positive_int("epochs", epochs)
    if compression not in ("AUTO", None):
        raise ValueError(
            "`compression` must be one of 'AUTO', None. "
            + _validate.received("compression", compression)
        )
    _validate.one_of("target_workers", target_workers, TARGET_WORKERS)
    if max_outstanding_requests is not None:
        _validate.positive_int("max_outstanding_requests", max_outstanding_requests)
    if task_refresh_interval_ms is not None:
        _validate.positive_int("task_refresh_interval_ms", task_refresh_interval_ms)
    _validate.one_of("on_incomplete", on_incomplete, ON_INCOMPLETE)
    if stall_timeout is not None and (
        isinstance(stall_timeout, bool)
        or not isinstance(stall_timeout, numbers.Real)
        or not stall_timeout > 0
    ):
        raise ValueError(
            "`stall_timeout` must be None (no stall warning) or a number of seconds > 0. "
            + _validate.received("stall_timeout", stall_timeout)
        )
    return mode


def service_dataset(
    it,
    service: str | tuple[str, str],
    *,
    processing_mode: ProcessingMode | Any = "dynamic",
    job_name: str | None = None,
    epochs: int | None = None,
    compression: str | None = "AUTO",
    target_workers: str = "AUTO",
    max_outstanding_requests: int | None = None,
    task_refresh_interval_ms: int | None = None,
    on_incomplete: OnIncomplete = "recover",
    stall_timeout: float | None = 60.0,
) -> tf.data.Dataset:
    """The iterator's batches, produced by tf.data service workers.

    ```
    directory/            tfdirpipe serve dispatcher --port 5050
    ├── cat/ ...          tfdirpipe serve worker --dispatcher host:5050   (x N)
    └── dog/ ...
    ```

    ```python
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        "/shared/data/train", target_size=(224, 224), seed=0)
    model.fit(it.distribute(service="grpc://host:5050"), epochs=10)
    ```

    Each pass over the returned dataset is one epoch of the iterator (it
    advances ``it.epoch`` like iterating ``it`` does) and is one service job:
    the epoch's order and augmentation are decided here, from ``(seed,
    epoch)``, and the workers build the batches. Batch ``b`` of epoch ``e``
    is the iterator's own batch ``b`` of epoch ``e``; batches arrive in
    whatever order the workers finish them. The file paths must be readable
    by the workers under the same names (a shared filesystem, or ``gs://`` /
    ``s3://`` URLs).

    Args:
        it: A `DirectoryIterator` created with ``cache=None`` and without a
            Python (``tf.numpy_function``) ``preprocessing_function``.
        service: The dispatcher, ``"grpc://host:port"`` or ``"host:port"``.
        processing_mode: How the workers share an epoch (TensorFlow's
            ``ShardingPolicy``): ``"dynamic"`` (default) hands each batch to
            whichever worker asks next, so each batch is made once per epoch
            by any number of workers; ``"off"`` makes every worker produce
            the whole epoch (each batch arrives once per worker);
            ``"data"`` / ``"file_or_data"`` give worker ``i`` of ``W`` the
            batches ``b % W == i`` and need the dispatcher's fixed
            ``worker_addresses``. ``"file"`` and ``"hint"`` cannot shard
            this pipeline and are refused.
        job_name: ``None``: this client's own job per epoch. A name: every
            client using the same name shares each epoch's job (job
            ``"{job_name}/epoch={e}"``), e.g. several trainers splitting one
            epoch between them. Each client then sees only its part, so
            nothing is recovered or warned about as missing
            (``epoch_reports`` still lists what this client received).
        epochs: Epochs per pass over the dataset; ``None`` means one, like
            the iterator (``model.fit(ds, epochs=E)`` then runs ``E`` jobs).
        compression: ``"AUTO"`` (TensorFlow decides) or ``None``.
        target_workers: ``"AUTO"``, ``"ANY"`` or ``"LOCAL"`` (only workers in
            this process).
        max_outstanding_requests: Cap on batches requested at once
            (bounds client memory to that many batches).
        task_refresh_interval_ms: How often the client asks the dispatcher
            for new workers and jobs; TensorFlow's default (1000 ms) adds
            about a second to the start of each epoch.
        on_incomplete: What to do when an epoch's service job ends with
            batches missing (a worker stopped while holding them: dynamic
            sharding is at-most-once and does not re-send them):
            ``"recover"`` (default) builds the missing batches in this
            process at the end of the epoch and warns
            (`IncompleteEpochWarning`), so every epoch has exactly
            ``len(it)`` batches; ``"warn"`` only warns; ``"raise"`` stops
            the iteration with the same message (TensorFlow reports an
            error raised in the client's callback as
            ``tf.errors.UnknownError``); ``"ignore"`` says nothing.
            Batches that arrive twice are dropped in every mode but
            ``processing_mode="off"``. Every epoch's `EpochReport` is kept in
            the returned dataset's ``epoch_reports`` list.
        stall_timeout: Seconds without a batch, while one is awaited, before
            a `ServiceStallWarning` (TensorFlow's client waits for a dead
            worker until one comes back at the same address); ``None`` turns
            the warning off.

    Returns:
        A ``tf.data.Dataset`` of batches with ``it.element_spec`` (the
        shapes and dtypes of ``it``'s batches; see `DirectoryIterator`). Its
        cardinality is ``len(it) * epochs`` with ``on_incomplete="recover"``
        (and not ``"off"`` nor ``job_name``), unknown otherwise. It has one
        extra attribute, ``epoch_reports``: a list of `EpochReport`, newest
        last.

    Raises:
        TypeError: ``it`` is not a directory iterator, or a bad argument type.
        ValueError: A bad argument value, the iterator has an image cache, or
            its transform calls Python or reads variables.
    """
    mode = _validate_service_args(
        service, processing_mode, job_name, epochs, compression, target_workers,
        max_outstanding_requests, task_refresh_interval_ms, on_incomplete, stall_timeout,
    )
    _check_iterator(it, "service_dataset", on_service=True)
    from tensorflow.python.data.experimental.ops import data_service_ops

    policy = getattr(tf.data.experimental.service.ShardingPolicy, mode.upper())
    exactly_once = mode != "off" and job_name is None
    recover = exactly_once and on_incomplete == "recover" and it.n > 0
    ledger = _Ledger(
        it, exactly_once=exactly_once, on_incomplete=on_incomplete,
        stall_timeout=stall_timeout, mode=mode, shared=job_name is not None,
    )
    num_batches = len(it)
    served_template = _Template(it, recovery=False)
    recovery_template = _Template(it, recovery=True) if recover else None
    element_spec = it.element_spec

    @_plain
    def one_epoch(epoch, row):
        order = it._order(epoch)
        pair = tf.stack([epoch, epoch])
        remote = served_template.dataset(order=order, epoch=pair)
        dataset_id = tf.data.experimental.service.register_dataset(
            service, remote, compression=compression
        )
        job = None
        if job_name is not None:
            job = tf.strings.join([job_name, "/epoch=", tf.strings.as_string(epoch)])
        # The private entry point takes a tensor job name: clients sharing
        # `job_name` then share the job of each epoch even though each one
        # registered its own copy of the dataset.
        served = data_service_ops._from_dataset_id(  # noqa: SLF001
            policy,
            service,
            dataset_id,
            remote.element_spec,
            job_name=job,
            max_outstanding_requests=max_outstanding_requests,
            task_refresh_interval_hint_ms=task_refresh_interval_ms,
            target_workers=target_workers,
        )
        counted = tf.data.Dataset.zip(ledger.requests(row), served).map(
            _plain(lambda _, item: ledger.record(row, epoch, order, *item))
        )
        if exactly_once:
            counted = counted.filter(_plain(lambda batch, first: first))
        counted = counted.map(_plain(lambda batch, first: batch))
        missing = ledger.end_of_epoch(epoch, row, order, recovered=recover)
        if recover:

            @_plain
            def rebuild(ids):
                padded = tf.pad(ids, [[0, num_batches - tf.size(ids)]], constant_values=-1)
                return recovery_template.dataset(
                    order=order, epoch=pair, batch_ids=padded
                ).map(_plain(lambda batch, b: batch))

            tail = missing.filter(_plain(lambda ids: tf.size(ids) > 0)).flat_map(rebuild)
        else:
            tail = missing.filter(_plain(lambda ids: False)).map(
                _plain(lambda ids: tf.nest.map_structure(
                    lambda s: tf.zeros([0, *s.shape[1:]], s.dtype), element_spec
                ))
            )
        return counted.concatenate(tail)

    ds = tf.data.Dataset.range(epochs or 1).map(_plain(lambda _: ledger.start(it._start_epoch())))
    with warnings.catch_warnings():
        # register_dataset reads `dataset.options()` while tracing, which warns.
        warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data options")
        ds = ds.flat_map(one_epoch)
    if recover:
        ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches * (epochs or 1)))
    ds = ds.prefetch(pipeline.AUTOTUNE)
    ds = ds.with_options(_client_options())
    ds.epoch_reports = ledger.reports
    return ds


class _Template:
    """One serialized epoch pipeline, re-targeted at each epoch by rewriting bytes.

    Building the epoch pipeline inside the client's per-epoch function makes
    TensorFlow re-optimize the whole decode graph on the client at every
    epoch (measured: 10-20 s instead of 2-5 s per epoch start on a loaded
    2-core machine). Instead the pipeline is built and serialized once, here,
    with random sentinel values for its per-epoch inputs (the order, int64
    ``[n]``; ``[epoch, epoch]``; for the recovery pipeline also the batch
    ids, int64 ``[num_batches]``, padded with -1). Array constants
    are stored as raw little-endian bytes, so each epoch's graph is the same
    bytes with those spans replaced (same lengths: the protobuf stays
    valid), turned back into a dataset with ``DatasetFromGraph``. If a
    sentinel is not found exactly once (another TensorFlow version may
    serialize differently) it falls back to building the pipeline in the
    graph: slower to start, same batches.
    """

    def __init__(self, it, *, recovery: bool):
        self.it = it
        self.options = pipeline.dataset_options(it._deterministic)
        self.pieces: list[bytes | str] | None = None
        rng = np.random.default_rng()
        nb = max(len(it), 1)
        sizes = {"order": max(it.n, 1), "epoch": 2}
        if recovery:
            sizes["batch_ids"] = nb
        sentinels = {k: rng.integers(2**62, size=v, dtype=np.int64) for k, v in sizes.items()}
        with tf.init_scope():
            template = self._build({k: tf.constant(v) for k, v in sentinels.items()})
            self.element_spec = template.element_spec
            try:
                graph = template._as_serialized_graph(  # noqa: SLF001
                    external_state_policy=tf.data.experimental.ExternalStatePolicy.IGNORE,
                    strip_device_assignment=True,
                ).numpy()
            except tf.errors.OpError as err:
                raise ValueError(
                    "tf.data service workers cannot run this iterator's pipeline: it does "
                    f"not serialize to a self-contained graph ({err.message.splitlines()[0]}). "
                    "Check `preprocessing_function` and any custom transform for Python "
                    "or tf.Variable use. " + _validate.received("it", it)
                ) from err
            probe = sentinels["order"]
            if it.n == 0 or _raw_bytes(tf.constant(probe)).numpy() != probe.tobytes():
                return
        spans = []
        for name, value in sentinels.items():
            blob = value.tobytes()
            if graph.count(blob) != 1:
                return
            spans.append((graph.find(blob), len(blob), name))
        pieces: list[bytes | str] = []
        at = 0
        for start, length, name in sorted(spans):
            pieces += [graph[at:start], name]
            at = start + length
        pieces.append(graph[at:])
        self.pieces = pieces

    def _build(self, inputs: dict[str, tf.Tensor]) -> tf.data.Dataset:
        ds = _pure_batches(self.it, inputs["order"], inputs["epoch"], inputs.get("batch_ids"))
        return ds.with_options(self.options)

    def dataset(self, **inputs: tf.Tensor) -> tf.data.Dataset:
        """The pipeline for these inputs (graph mode, inside the client's function)."""
        if self.pieces is None:
            return self._build(inputs)
        from tensorflow.python.data.ops import dataset_ops
        from tensorflow.python.ops import gen_experimental_dataset_ops

        parts = [p if isinstance(p, bytes) else _raw_bytes(inputs[p]) for p in self.pieces]
        variant = gen_experimental_dataset_ops.dataset_from_graph(tf.strings.join(parts))
        return dataset_ops._VariantDataset(variant, self.element_spec)  # noqa: SLF001


def _raw_bytes(values: tf.Tensor) -> tf.Tensor:
    """The raw bytes of a non-empty int64 tensor (``np.ndarray.tobytes`` in the graph).

    A serialized ``TensorProto`` ends with its ``tensor_content`` field.
    """
    serialized = tf.io.serialize_tensor(tf.cast(values, tf.int64))
    size = tf.size(values, tf.int32) * 8
    return tf.strings.substr(serialized, tf.strings.length(serialized) - size, size)


def _plain(fn: Callable) -> Callable:
    """Marks a client-side graph function as not for AutoGraph (it has no Python
    control flow on tensors; conversion would only re-read this file's source)."""
    return tf.autograph.experimental.do_not_convert(fn)


def _client_options() -> tf.data.Options:
    """The client part only moves finished batches: skip tf.data's graph rewrites."""
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_optimization.map_parallelization = False
    options.experimental_optimization.parallel_batch = False
    options.experimental_optimization.inject_prefetch = False
    return options


_ROWS = 4  # epochs whose counters can be live at once (Keras opens the next early)


class _Ledger:
    """Client-side bookkeeping of the batches of each service epoch.

    Counters live in tf.Variables updated by the client part of the graph
    (this process only), one row per epoch modulo ``_ROWS`` so that an
    iterator Keras opens for the next epoch does not reset the counters of
    one still finishing. A Python callback at the end of each epoch turns
    them into an `EpochReport`; a watchdog thread warns while a requested
    batch has not arrived for ``stall_timeout`` seconds.
    """

    def __init__(self, it, *, exactly_once: bool, on_incomplete: str,
                 stall_timeout: float | None, mode: str, shared: bool):
        self.sizes = _batch_sizes(it.n, it.batch_size)
        self.filepaths = list(it.filepaths)
        self.batch_size = it.batch_size
        self.exactly_once = exactly_once
        self.on_incomplete = on_incomplete
        self.stall_timeout = stall_timeout
        self.mode = mode
        self.shared = shared
        self.reports: list[EpochReport] = []
        num = max(len(self.sizes), 1)
        with tf.init_scope():
            self.received = tf.Variable(tf.zeros([_ROWS, num], tf.int32), trainable=False)
            self.requested = tf.Variable(tf.zeros([_ROWS], tf.int64), trainable=False)
            self.delivered = tf.Variable(tf.zeros([_ROWS], tf.int64), trainable=False)
            self.last_progress = tf.Variable(tf.zeros([_ROWS], tf.float64), trainable=False)
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}  # epoch -> monotonic start
        self._reported: list[int] = []  # epochs already reported
        self._latest: tuple[int, int] | None = None  # (epoch, row) being watched
        self._watchdog: threading.Thread | None = None

    # -- graph pieces (client side) ---------------------------------------
    def start(self, epoch: tf.Tensor):
        row = epoch % _ROWS
        num = self.received.shape[1]
        resets = [
            self.received.scatter_update(
                tf.IndexedSlices(tf.zeros([1, num], tf.int32), row[None])
            ),
            self.requested.scatter_update(tf.IndexedSlices(tf.zeros([1], tf.int64), row[None])),
            self.delivered.scatter_update(tf.IndexedSlices(tf.zeros([1], tf.int64), row[None])),
            self.last_progress.scatter_update(
                tf.IndexedSlices(tf.timestamp()[None], row[None])
            ),
        ]
        with tf.control_dependencies(resets):
            began = tf.py_function(self._on_start, [epoch, row], tf.int64)
        with tf.control_dependencies([began]):
            return tf.identity(epoch), tf.identity(row)

    def requests(self, row: tf.Tensor) -> tf.data.Dataset:
        """Endless ticks, zipped before the service read: counts batches asked for."""
        one = tf.IndexedSlices(tf.ones([1], tf.int64), row[None])
        return tf.data.Dataset.range(2**62).map(_plain(lambda _: self.requested.scatter_add(one)))

    def record(self, row: tf.Tensor, epoch: tf.Tensor, order: tf.Tensor, batch, b: tf.Tensor):
        """Counts batch ``b``; returns ``(batch, first)``: whether ``b`` is new this epoch.

        The epoch is reported as soon as its last distinct batch arrives,
        before that batch is handed on: a consumer that stops after exactly
        ``len(it)`` batches (Keras with a known cardinality) never pulls the
        end of the stream.
        """
        at = tf.stack([row, b])[None]
        first = tf.equal(tf.gather_nd(self.received, at)[0], 0)
        with tf.control_dependencies([first]):
            updates = [
                self.received.scatter_nd_add(at, tf.ones([1], tf.int32)),
                self.delivered.scatter_add(tf.IndexedSlices(tf.ones([1], tf.int64), row[None])),
                self.last_progress.scatter_update(
                    tf.IndexedSlices(tf.timestamp()[None], row[None])
                ),
            ]
        with tf.control_dependencies(updates):
            received = tf.gather(self.received, row)
            complete = tf.logical_and(
                first, tf.reduce_all(received[: len(self.sizes)] > 0)
            )
            reported = tf.cond(
                complete,
                lambda: self._report_op(epoch, received, order, False),
                lambda: tf.zeros([0], tf.int64),
            )
        with tf.control_dependencies([reported]):
            return tf.nest.map_structure(tf.identity, batch), tf.identity(first)

    def _report_op(self, epoch, received, order, recovered: bool) -> tf.Tensor:
        missing = tf.py_function(
            lambda e, r, o: self._on_end(e, r, o, recovered), [epoch, received, order], tf.int64
        )
        missing.set_shape([None])
        return missing

    def end_of_epoch(self, epoch, row, order, *, recovered: bool) -> tf.data.Dataset:
        """One element, made when the service stream has ended: the missing batch ids.

        Empty when the epoch was already reported complete by `record`.
        """
        received = _plain(lambda _: tf.gather(self.received, row))
        return tf.data.Dataset.range(1).map(received).map(
            _plain(lambda counts: self._report_op(epoch, counts, order, recovered))
        )

    # -- Python callbacks ----------------------------------------------------
    def _on_start(self, epoch: tf.Tensor, row: tf.Tensor) -> int:
        with self._lock:
            self._started[int(epoch)] = time.monotonic()
            if int(epoch) in self._reported:  # the same epoch served again
                self._reported.remove(int(epoch))
            for old in [e for e in self._started if e <= int(epoch) - _ROWS]:
                del self._started[old]  # abandoned before its end (see _ROWS)
            self._latest = (int(epoch), int(row))
            if self.stall_timeout is not None and (
                self._watchdog is None or not self._watchdog.is_alive()
            ):
                self._watchdog = threading.Thread(
                    target=_watch, args=(weakref.ref(self),), daemon=True,
                    name="tfdirpipe-service-watchdog",
                )
                self._watchdog.start()
        return 0

    def _on_end(self, epoch: tf.Tensor, received: tf.Tensor, order: tf.Tensor,
                recovered: bool) -> np.ndarray:
        epoch = int(epoch)
        counts = received.numpy()[: len(self.sizes)]
        with self._lock:
            if epoch in self._reported:
                return np.zeros(0, np.int64)
            self._reported.append(epoch)
            del self._reported[:-_MAX_REPORTS]
            seconds = time.monotonic() - self._started.pop(epoch, time.monotonic())
            if self._latest is not None and self._latest[0] == epoch:
                self._latest = None
        missing = np.flatnonzero(counts == 0)
        repeated = np.flatnonzero(counts > 1) if self.exactly_once else np.zeros(0, np.int64)
        order_np = order.numpy()
        missing_files = tuple(
            self.filepaths[i]
            for b in missing
            for i in order_np[b * self.batch_size : (b + 1) * self.batch_size]
        )
        got = counts > 0
        report = EpochReport(
            epoch=epoch,
            expected_batches=len(self.sizes),
            received_batches=int(got.sum()),
            expected_files=int(self.sizes.sum()),
            received_files=int(self.sizes[got].sum()),
            missing_batches=tuple(int(b) for b in missing),
            missing_files=missing_files,
            repeated_batches=tuple(int(b) for b in repeated),
            seconds=round(seconds, 3),
            shared_job=self.shared,
            recovered=bool(recovered and len(missing)),
        )
        self.reports.append(report)
        del self.reports[:-_MAX_REPORTS]
        if not report.complete and not self.shared and self.on_incomplete != "ignore":
            message = _incomplete_message(report, self.mode)
            if self.on_incomplete == "raise":
                raise tf.errors.DataLossError(None, None, message)
            warnings.warn(IncompleteEpochWarning(message, report), stacklevel=2)
        if self.shared or not recovered:
            return np.zeros(0, np.int64)
        return missing.astype(np.int64)

    def _stall_check(self, warned: float | None) -> float | None:
        """One watchdog look; returns the progress time it last warned about."""
        with self._lock:
            latest = self._latest
        if latest is None:
            return warned
        epoch, row = latest
        last = float(self.last_progress.numpy()[row])
        waiting = int(self.requested.numpy()[row]) > int(self.delivered.numpy()[row])
        idle = time.time() - last
        if not waiting or idle < self.stall_timeout or warned == last:
            return warned
        counts = self.received.numpy()[row, : len(self.sizes)]
        warnings.warn(
            ServiceStallWarning(
                f"tf.data service: no batch of epoch {epoch} for {idle:.0f} s "
                f"({int((counts > 0).sum())} of {len(self.sizes)} batches received). "
                "A worker has probably stopped: TensorFlow's client waits until a "
                "worker is back at the same address (restart it with the same --port); "
                "with processing_mode='dynamic' the batches it held are lost and are "
                "reported (and by default rebuilt here) when the epoch ends."
            ),
            stacklevel=1,
        )
        return last


def _watch(ref: Callable[[], _Ledger | None]) -> None:
    """Watchdog thread body: polls the ledger while an epoch is being watched."""
    warned: float | None = None
    while True:
        ledger = ref()
        if ledger is None:
            return
        with ledger._lock:
            if ledger._latest is None:
                ledger._watchdog = None
                return
        poll = min(1.0, ledger.stall_timeout / 4)
        warned = ledger._stall_check(warned)
        del ledger
        time.sleep(poll)


def _incomplete_message(report: EpochReport, mode: str) -> str:
    parts = []
    if report.missing_batches:
        lost = report.expected_files - report.received_files
        shown = ", ".join(report.missing_files[:5]) + (
            ", ..." if len(report.missing_files) > 5 else ""
        )
        parts.append(
            f"{lost} of {report.expected_files} files ({len(report.missing_batches)} of "
            f"{report.expected_batches} batches) never arrived: {shown}. A worker probably "
            "stopped while holding them"
            + (" (dynamic sharding does not re-send a lost worker's batches)"
               if mode == "dynamic" else "")
        )
    if report.repeated_batches:
        parts.append(
            f"{len(report.repeated_batches)} batches arrived more than once (the repeats "
            "were dropped)"
        )
    if report.recovered:
        action = (
            "The missing batches were rebuilt in this process, so the epoch is complete. "
            "Pass on_incomplete='raise' to stop instead."
        )
    else:
        action = (
            "The epoch went on without them; the dataset's `epoch_reports[-1]` lists "
            "them. Pass on_incomplete='recover' to rebuild them here, or 'raise' to stop."
        )
    return (
        f"tf.data service epoch {report.epoch} is incomplete: " + "; ".join(parts) + ". " + action
    )


# ---------------------------------------------------------------------------
# tf.distribute: one shard of the file list per input pipeline
# ---------------------------------------------------------------------------


def shard_dataset(
    it, num_shards: int, index: int, *, batch_size: int | None = None
) -> tf.data.Dataset:
    """Batches of one shard of the iterator's files, cut before decoding.

    Shard ``index`` of ``num_shards`` keeps files ``index, index +
    num_shards, ...`` of the Keras-ordered file list (so every class is
    spread evenly), and only those files are ever read. Shards are disjoint
    and their union is the whole list whatever the seeds, so processes do
    not need to agree on one. Each pass reshuffles the shard (when
    ``it.shuffle``) and redraws the augmentation, from
    ``Dataset.random(seed, rerandomize_each_iteration=True)``: no Python
    state, no ``tf.Variable`` (an iterator ``cache=`` still works, in this
    process).

    Args:
        it: A `DirectoryIterator`.
        num_shards: Number of shards (input pipelines), ``>= 1``.
        index: This shard, in ``[0, num_shards)``.
        batch_size: Images per batch; defaults to ``it.batch_size``.

    Returns:
        A dataset of ``ceil(len(shard) / batch_size)`` batches (asserted
        cardinality) with ``it.element_spec``.
    """
    _check_iterator(it, "shard_dataset", on_service=False)
    num_shards = _validate.positive_int("num_shards", num_shards)
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not (
        0 <= index < num_shards
    ):
        raise ValueError(
            f"`index` must be an int in [0, {num_shards}). " + _validate.received("index", index)
        )
    batch_size = _validate.positive_int("batch_size", batch_size or it.batch_size)
    shard = np.arange(it.n, dtype=np.int64)[index::num_shards]
    num_batches = _num_batches(len(shard), batch_size)
    # Batch seeds of shard `index` start at index * most_batches: no two
    # shards draw the same augmentation in one pass.
    most_batches = _num_batches(_num_batches(it.n, num_shards) if it.n else 0, batch_size)
    shard_t = tf.constant(shard, tf.int64)
    seed = it._seed

    def one_pass(key):
        order = shard_t
        if it.shuffle and len(shard) > 1:
            perm = tf.random.experimental.stateless_shuffle(
                tf.range(len(shard), dtype=tf.int64),
                seed=tf.stack([tf.constant(seed, tf.int64), key]),
            )
            order = tf.gather(shard_t, perm)
        indices = tf.data.Dataset.from_tensor_slices(order)
        return it._batches(indices, key, index * most_batches, batch_size=batch_size)

    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    ds = keys.flat_map(one_pass)
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
    ds = ds.prefetch(pipeline.AUTOTUNE)
    return ds.with_options(pipeline.dataset_options(it._deterministic))


def input_fn_for(
    it_or_factory, global_batch_size: int
) -> Callable[[tf.distribute.InputContext], tf.data.Dataset]:
    """A ``dataset_fn`` for ``strategy.distribute_datasets_from_function``.

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        "/shared/data/train", target_size=(224, 224), seed=0)
    ds = strategy.distribute_datasets_from_function(
        tfdirpipe.distribute.input_fn_for(it, global_batch_size=256))
    with strategy.scope():
        model = make_model()
    model.fit(ds, epochs=10)
    ```

    Input pipeline ``input_pipeline_id`` of ``num_input_pipelines`` reads
    only its shard of the file list (see `shard_dataset`), in batches of
    ``input_context.get_per_replica_batch_size(global_batch_size)``.
    Shards may differ by one file, so pipelines may differ by one batch at
    the end of an epoch; Keras's distributed iterator handles the uneven
    end.

    Args:
        it_or_factory: A `DirectoryIterator`, or a function of no arguments
            returning one (called inside the input function, so each worker
            lists the directory itself). Its ``batch_size`` is not used.
        global_batch_size: Images per step over all replicas.

    Returns:
        ``dataset_fn(input_context) -> tf.data.Dataset``.
    """
    global_batch_size = _validate.positive_int("global_batch_size", global_batch_size)
    if not callable(it_or_factory) or hasattr(it_or_factory, "filepaths"):
        _check_iterator(it_or_factory, "input_fn_for", on_service=False)

    def dataset_fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        it = it_or_factory
        if not hasattr(it, "filepaths") and callable(it):
            it = it()
        per_replica = input_context.get_per_replica_batch_size(global_batch_size)
        return shard_dataset(
            it,
            input_context.num_input_pipelines,
            input_context.input_pipeline_id,
            batch_size=per_replica,
        )

    return dataset_fn
