"""Caches of decoded-and-resized uint8 images, so later epochs skip decoding.

The cache sits between loading and batching: it holds what `pipeline.load_image`
returns for a sample index (after decode and resize, before augmentation,
so augmentation still varies per epoch). Both kinds are filled lazily inside
the tf.data graph by whichever pass reads a sample first, and are random
access, so every epoch's shuffle order is served from them.

* ``cache="memory"``: one uint8 ``tf.Variable`` of ``[n, height, width, C]``,
  allocated up front (its size is known: no unbounded growth).
* ``cache="/some/dir"``: one raw file per image under a subfolder named by a
  hash of everything that affects pixels (paths, sizes and modification
  times of the files, and the `pipeline.LoadSpec`), so a changed file or
  option never reads stale pixels. A file cut short by an interrupted run
  fails the size check when the cache is opened again and is rewritten.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence

import tensorflow as tf

from tfdirpipe import _validate


def validate_cache(cache) -> None:
    """``None``, ``"memory"`` or a directory path (str or os.PathLike)."""
    if cache is None or cache == "memory":
        return
    if not isinstance(cache, (str, os.PathLike)) or isinstance(cache, bool):
        raise TypeError(
            "`cache` must be None, 'memory' or a directory path for an on-disk cache. "
            + _validate.received("cache", cache)
        )


class NoCache:
    """Loads every time."""

    def lookup(self, index: tf.Tensor, load: Callable[[], tf.Tensor]) -> tf.Tensor:
        """Returns ``load()``."""
        return load()


class MemoryCache:
    """A preallocated in-memory uint8 image store, filled on first read."""

    def __init__(self, n: int, image_shape: tuple[int, int, int]):
        self.image_shape = image_shape
        self.nbytes = n * image_shape[0] * image_shape[1] * image_shape[2]
        self._images = tf.Variable(
            tf.zeros([max(n, 1), *image_shape], tf.uint8), trainable=False, name="image_cache"
        )
        self._filled = tf.Variable(tf.zeros([max(n, 1)], tf.bool), trainable=False, name="filled")

    def lookup(self, index: tf.Tensor, load: Callable[[], tf.Tensor]) -> tf.Tensor:
        """The cached image of ``index``, loading and storing it on a miss."""

        def miss():
            image = load()
            store = self._images.scatter_update(tf.IndexedSlices(image[None], index[None]))
            with tf.control_dependencies([store]):
                mark = self._filled.scatter_update(
                    tf.IndexedSlices(tf.constant([True]), index[None])
                )
            with tf.control_dependencies([mark]):
                return tf.identity(image)

        return tf.cond(
            tf.gather(self._filled, index), lambda: tf.gather(self._images, index), miss
        )

    @property
    def filled(self) -> int:
        """How many images are cached."""
        return int(tf.reduce_sum(tf.cast(self._filled, tf.int32)).numpy())


class DiskCache:
    """Serialized uint8 tensors, one file per image, under a content-keyed folder."""

    def __init__(self, root: str, filepaths: Sequence[str], spec) -> None:
        self.image_shape = spec.image_shape
        self.folder = os.path.join(os.fspath(root), cache_key(filepaths, spec))
        os.makedirs(self.folder, exist_ok=True)
        size = len(tf.io.serialize_tensor(tf.zeros(self.image_shape, tf.uint8)).numpy())
        present = set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                stem, ext = os.path.splitext(entry.name)
                # A file cut short by an interrupted run has the wrong size.
                if ext == ".tensor" and stem.isdigit() and entry.stat().st_size == size:
                    present.add(int(stem))
        n = len(filepaths)
        self._filled = tf.Variable(
            [i in present for i in range(max(n, 1))], dtype=tf.bool, trainable=False
        )
        self._prefix = tf.constant(self.folder + os.sep)

    def lookup(self, index: tf.Tensor, load: Callable[[], tf.Tensor]) -> tf.Tensor:
        """The cached image of ``index``, loading and writing it on a miss."""
        path = self._prefix + tf.strings.as_string(index) + ".tensor"

        def hit():
            image = tf.io.parse_tensor(tf.io.read_file(path), tf.uint8)
            return tf.ensure_shape(image, self.image_shape)

        def miss():
            image = load()
            write = tf.io.write_file(path, tf.io.serialize_tensor(image))
            with tf.control_dependencies([write]):
                mark = self._filled.scatter_update(
                    tf.IndexedSlices(tf.constant([True]), index[None])
                )
            with tf.control_dependencies([mark]):
                return tf.identity(image)

        return tf.cond(tf.gather(self._filled, index), hit, miss)


def cache_key(filepaths: Sequence[str], spec) -> str:
    """Hash of the file list, each file's size and mtime, and the load spec."""
    digest = hashlib.sha256(repr(spec).encode())
    for path in filepaths:
        try:
            st = os.stat(path)
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:24]


def make_cache(cache, filepaths: Sequence[str], spec):
    """The cache object for the ``cache=`` argument."""
    if cache is None:
        return NoCache()
    if cache == "memory":
        return MemoryCache(len(filepaths), spec.image_shape)
    return DiskCache(cache, filepaths, spec)
