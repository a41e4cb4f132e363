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
    n, batch_size = 300, pipeline.MAX_UNROLLED_BATCH + 1
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


@pytest.mark.parametrize("scale", [None, 1 / 255, 1 / 127.5, 0.5, 3.7, 1e-30, -1 / 255, 0.0])
def test_to_float_is_keras_rescale_bit_for_bit(scale):
    """``float32(x) * float32(scale)`` as numpy computes Keras's ``x *= rescale``,
    whether the one-pass Dequantize path or the cast-and-multiply path runs."""
    x = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    x[0, 0, :2, 0] = [0, 255]
    got = pipeline.to_float(tf.constant(x), scale).numpy()
    want = x.astype(np.float32)
    if scale is not None:
        want = want * np.float32(scale)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_to_float_takes_the_one_pass_path_for_common_scales():
    assert pipeline._dequantize_is_exact(1 / 255) and pipeline._dequantize_is_exact(0.5)
    assert not pipeline._dequantize_is_exact(-1 / 255) and not pipeline._dequantize_is_exact(0.0)
    graph = tf.function(lambda x: pipeline.to_float(x, 1 / 255)).get_concrete_function(
        tf.TensorSpec([None, 4, 4, 3], tf.uint8)
    ).graph
    assert "Dequantize" in {op.type for op in graph.get_operations()}
