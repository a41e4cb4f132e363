"""`flow_from_directory(..., device_stage=True)` + `DeviceStage`: the batch
transform moved from the tf.data graph into the model, same function, same
numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfdirpipe
from tfdirpipe import testing

AUG = {"rotation_range": 20, "width_shift_range": 0.2, "zoom_range": 0.2, "horizontal_flip": True}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage")
    testing.make_image_tree(root, classes=("a", "b", "c"), per_class=6, size=(14, 18))
    return str(root)


def _iter(tree, gen_kwargs, **kwargs):
    kwargs = {"target_size": (12, 16), "batch_size": 5, "shuffle": False, "verbose": False, **kwargs}
    return tfdirpipe.ImageDataGenerator(**gen_kwargs).flow_from_directory(tree, **kwargs)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_stage_outside_equals_stage_inside_without_augmentation(tree, data_format):
    gen = {"rescale": 1 / 255, "samplewise_center": True, "data_format": data_format}
    inside = _iter(tree, gen)
    staged = _iter(tree, gen, device_stage=True)
    layer = staged.device_layer()
    for (xi, yi), (xs, ys) in zip(inside, staged):
        assert xs.dtype == tf.uint8 and xs.shape == xi.shape
        np.testing.assert_array_equal(ys.numpy(), yi.numpy())
        # The same ops on the same values: identical, not merely close.
        np.testing.assert_array_equal(layer(xs, training=False).numpy(), xi.numpy())


def test_training_runs_the_generators_augmentation_with_a_step_seed(tree):
    gen = tfdirpipe.ImageDataGenerator(rescale=1 / 255, **AUG)
    it = gen.flow_from_directory(
        tree, target_size=(12, 16), batch_size=5, verbose=False, device_stage=True, seed=7
    )
    layer = it.device_layer()
    assert next(it)[0].dtype == np.uint8
    # Textured input, so that different draws visibly differ.
    x = tf.constant(np.random.default_rng(0).integers(0, 256, (5, 12, 16, 3), dtype=np.uint8))
    transform = gen.batch_transform("channels_last")
    outs = []
    for step in range(2):
        want = transform(tf.cast(x, tf.float32), tf.constant([7, step], tf.int64)).numpy()
        got = layer(x, training=True).numpy()
        np.testing.assert_array_equal(got, want)
        outs.append(got)
    assert int(layer.step.numpy()) == 2
    assert np.abs(outs[0] - outs[1]).max() > 0.05  # a new draw every batch
    # Not training: no augmentation, the step does not move.
    np.testing.assert_allclose(layer(x, training=False).numpy(), x.numpy() / 255, rtol=1e-6)
    assert int(layer.step.numpy()) == 2


def test_model_fit_with_the_stage_counts_one_draw_per_batch(tree):
    it = _iter(tree, {"rescale": 1 / 255, **AUG}, device_stage=True, shuffle=True, seed=1)
    layer = it.device_layer()
    model = keras.Sequential([
        keras.Input((12, 16, 3), dtype="uint8"),
        layer,
        keras.layers.Flatten(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(it, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert int(layer.step.numpy()) == 2 * len(it)
    preds = model.predict(it, verbose=0)
    assert preds.shape == (it.samples, 3)
    assert int(layer.step.numpy()) == 2 * len(it)  # predict does not augment


def test_errors_name_the_argument(tree):
    with pytest.raises(ValueError, match=r"`device_layer\(\)` needs an iterator made with"):
        _iter(tree, {}).device_layer()
    with pytest.raises(ValueError, match='cannot be used with class_mode="input"'):
        _iter(tree, {}, device_stage=True, class_mode="input")
    with pytest.raises(TypeError, match="device_stage"):
        _iter(tree, {}, device_stage="yes")
    with pytest.raises(TypeError, match=r"Received: device=0"):
        _iter(tree, {}, device_stage=True).device_layer(device=0)


_FORCED_DEVICE = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tfdirpipe
    gen = tfdirpipe.ImageDataGenerator(rescale=1 / 255, rotation_range=20, horizontal_flip=True)
    it = gen.flow_from_directory(sys.argv[1], target_size=(12, 16), batch_size=5,
                                 verbose=False, device_stage=True, seed=3)
    x = tf.constant(np.random.default_rng(0).integers(0, 256, (5, 12, 16, 3), dtype=np.uint8))
    default = it.device_layer()(x, training=True)
    forced = it.device_layer(device="/CPU:1")(x, training=True)
    print(json.dumps({"default": default.device, "forced": forced.device,
                      "same": bool(np.array_equal(default.numpy(), forced.numpy()))}))
    """
)


def test_forcing_a_device_places_the_stage_there(tree):
    """Two logical CPUs (in a fresh process): ``device="/CPU:1"`` runs the stage
    on the second one, with the same numbers as on the default device."""
    proc = subprocess.run(
        [sys.executable, "-c", _FORCED_DEVICE, tree], capture_output=True, text=True,
        timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["default"].endswith("CPU:0")
    assert got["forced"].endswith("CPU:1")
    assert got["same"]


@pytest.mark.gpu
def test_gpu_stage_matches_cpu(tree):
    it = _iter(tree, {"rescale": 1 / 255, "featurewise_center": False, **AUG}, device_stage=True, seed=3)
    x, _ = next(it)
    cpu = it.device_layer(device="/CPU:0")(x, training=True).numpy()
    gpu_layer = it.device_layer(device="/GPU:0")
    gpu = gpu_layer(x, training=True)
    assert "GPU" in gpu.device
    # Bilinear sampling in float32 on different hardware: measured on CPU only
    # so far (no GPU lent); 1e-4 of the 0-1 range leaves room for FMA order.
    np.testing.assert_allclose(gpu.numpy(), cpu, rtol=0, atol=1e-4)


def test_dataframe_iterator_defers_the_same_way(tree):
    pd = pytest.importorskip("pandas")
    inside_it = _iter(tree, {})
    df = pd.DataFrame({
        "filename": inside_it.filepaths,
        "class": [["a", "b", "c"][k] for k in inside_it.classes],
    })
    gen = tfdirpipe.ImageDataGenerator(rescale=1 / 255, featurewise_center=False)
    kwargs = {"target_size": (12, 16), "batch_size": 5, "shuffle": False, "verbose": False}
    inside = gen.flow_from_dataframe(df, **kwargs)
    staged = gen.flow_from_dataframe(df, device_stage=True, **kwargs)
    layer = staged.device_layer()
    for (xi, yi), (xs, ys) in zip(inside, staged):
        assert xs.dtype == tf.uint8
        np.testing.assert_array_equal(ys.numpy(), yi.numpy())
        np.testing.assert_array_equal(layer(xs, training=False).numpy(), xi.numpy())
    with pytest.raises(ValueError, match='cannot be used with class_mode="input"'):
        gen.flow_from_dataframe(df, device_stage=True, class_mode="input", **kwargs)
