"""ImageDataGenerator.flow (NumpyArrayIterator) against the real Keras class."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tfdirpipe


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(22, 12, 10, 3)).astype("float32")
    y = np.arange(22) % 3
    w = rng.uniform(size=22).astype("float32")
    return x, y, w


def _ours(it):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in it]


def test_flow_matches_keras_without_augmentation(keras_legacy, data):
    x, y, w = data
    gen = {"rescale": 1 / 255, "samplewise_center": True}
    kit = keras_legacy(**gen).flow(x, y, batch_size=5, shuffle=False, sample_weight=w)
    it = tfdirpipe.ImageDataGenerator(**gen).flow(x, y, batch_size=5, shuffle=False, sample_weight=w)
    assert len(it) == len(kit) == 5
    for got, want in zip(_ours(it), [kit[i] for i in range(len(kit))]):
        assert len(got) == len(want) == 3
        # samplewise mean in float32, different summation order: measured 6e-8.
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(got[2], want[2])


def test_flow_first_epoch_order_is_keras(keras_legacy, data):
    x, y, _ = data
    kit = keras_legacy().flow(x, y, batch_size=4, seed=11)
    it = tfdirpipe.ImageDataGenerator().flow(x, y, batch_size=4, seed=11)
    for _ in range(len(it)):
        (gx, gy), (wx, wy) = next(it), next(kit)
        np.testing.assert_array_equal(gy, wy)
        np.testing.assert_array_equal(gx, wx)


def test_flow_subset_and_misc_inputs(keras_legacy, data):
    x, y, _ = data
    misc = np.arange(22, dtype="float32")[:, None]
    for subset in ("training", "validation"):
        kit = keras_legacy(validation_split=0.5).flow((x, misc), y, shuffle=False, subset=subset)
        it = tfdirpipe.ImageDataGenerator(validation_split=0.5).flow(
            (x, misc), y, shuffle=False, subset=subset
        )
        (gxs, gy), (wxs, wy) = _ours(it)[0], kit[0]
        np.testing.assert_array_equal(gy, wy)
        for a, b in zip(gxs, wxs):
            np.testing.assert_array_equal(a, b)


def test_flow_augmentation_is_seeded_and_keeps_pairs(data):
    x, y, _ = data
    gen = tfdirpipe.ImageDataGenerator(rotation_range=30, horizontal_flip=True, zoom_range=0.2)
    a = _ours(gen.flow(x, y, batch_size=8, seed=2))
    b = _ours(gen.flow(x, y, batch_size=8, seed=2))
    c = _ours(gen.flow(x, y, batch_size=8, seed=3))
    for (ax, ay), (bx, by) in zip(a, b):
        np.testing.assert_array_equal(ax, bx)
        np.testing.assert_array_equal(ay, by)
    assert not all(np.array_equal(p[0], q[0]) for p, q in zip(a, c))
    plain = _ours(tfdirpipe.ImageDataGenerator().flow(x, y, batch_size=8, seed=2))
    for (ax, ay), (px, py) in zip(a, plain):
        np.testing.assert_array_equal(ay, py)  # same order: augmentation never reorders
        assert not np.array_equal(ax, px)


def test_flow_rejects_bad_rank():
    with pytest.raises(ValueError, match="should have rank 4"):
        tfdirpipe.ImageDataGenerator().flow(np.zeros((3, 4, 4)))


def test_import_does_not_load_tensorflow_io():
    code = "import sys, tfdirpipe; print('tensorflow_io' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
