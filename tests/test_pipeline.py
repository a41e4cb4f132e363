"""``tfdirpipe.pipeline``'s dataset building blocks against plain tf.data."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfdirpipe import pipeline


def _element(i):
    """A nested structure of several dtypes and shapes, all functions of i."""
    i = tf.cast(i, tf.int32)
    image = tf.cast(tf.fill([3, 2, 2], i % 251), tf.uint8)
    return {"image": image, "pair": (tf.cast(i, tf.int64) * 3, tf.strings.as_string(i))}


def _as_numpy(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), x) for x in ds]


@pytest.mark.parametrize("n,batch_size", [(10, 3), (9, 3), (1, 4), (70, 32), (5, 1)])
def test_map_and_batch_equals_map_then_batch(n, batch_size):
    """Same batches, in order, with a short last batch, as ``map().batch()``."""
    source = tf.data.Dataset.range(n)
    ds, unpack = pipeline.map_and_batch(source, _element, batch_size, deterministic=True)
    got = _as_numpy(ds.map(unpack))
    want = _as_numpy(source.map(_element).batch(batch_size))
    assert len(got) == len(want) == -(-n // batch_size)
    for g, w in zip(got, want):
        tf.nest.assert_same_structure(g, w)
        for a, b in zip(tf.nest.flatten(g), tf.nest.flatten(w)):
            np.testing.assert_array_equal(a, b)


def test_map_and_batch_static_shapes_match_batch():
    source = tf.data.Dataset.range(7)
    ds, unpack = pipeline.map_and_batch(source, _element, 4)
    unpacked = ds.map(unpack).element_spec
    plain = source.map(_element).batch(4).element_spec
    assert unpacked == plain


def test_map_and_batch_large_batches_fall_back_to_plain_batching():
    """Above the unrolling limit the public map + batch is used: same batches."""
    n, batch_size = 300, pipeline._MAX_UNROLLED_BATCH + 1
    ds, unpack = pipeline.map_and_batch(tf.data.Dataset.range(n), _element, batch_size, True)
    batches = _as_numpy(ds.map(unpack))
    assert [len(b["image"]) for b in batches] == [batch_size, n - batch_size]
    np.testing.assert_array_equal(np.concatenate([b["pair"][0] for b in batches]), np.arange(n) * 3)


def test_map_and_batch_nondeterministic_keeps_every_element_once():
    ds, unpack = pipeline.map_and_batch(tf.data.Dataset.range(100), _element, 8, deterministic=False)
    values = np.concatenate([b["pair"][0] for b in _as_numpy(ds.map(unpack))])
    np.testing.assert_array_equal(np.sort(values), np.arange(100) * 3)


def test_map_and_batch_errors_propagate_with_their_message():
    def fails_on_five(i):
        tf.debugging.assert_none_equal(i, tf.constant(5, tf.int64), message="element five")
        return i * 2

    ds, unpack = pipeline.map_and_batch(tf.data.Dataset.range(8), fails_on_five, 4, True)
    it = iter(ds.map(unpack))
    np.testing.assert_array_equal(next(it).numpy(), [0, 2, 4, 6])
    with pytest.raises(tf.errors.InvalidArgumentError, match="element five"):
        next(it)
