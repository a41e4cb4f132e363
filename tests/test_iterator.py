"""flow_from_directory against the real Keras legacy iterator (the oracle)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfdirpipe
from tfdirpipe import testing

CLASSES = ("cat", "dog", "bird")


@pytest.fixture(scope="session")
def smooth_tree(tmp_path_factory):
    """PNG and JPEG files of assorted sizes with smooth random content."""
    root = tmp_path_factory.mktemp("smooth")
    testing.make_image_tree(
        root, classes=CLASSES, per_class=(5, 4, 3), size=((20, 40), (18, 44)),
        fmt="png", encode_index=False, seed=1,
    )
    testing.make_image_tree(
        root / "dog" / "nested", classes=("jpg",), per_class=3, size=((30, 50), (25, 45)),
        fmt="jpeg", encode_index=False, seed=2,
    )
    return str(root)


@pytest.fixture(scope="session")
def indexed_tree(tmp_path_factory):
    """Flat-colour PNGs whose pixels encode (class index, image index)."""
    root = tmp_path_factory.mktemp("indexed")
    testing.make_image_tree(root, classes=CLASSES, per_class=(7, 5, 6), size=(12, 10), fmt="png")
    return str(root)


def _keras_batches(it):
    return [it[i] for i in range(len(it))]


def _ours_batches(it):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in it]


def _assert_batches_equal(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        if isinstance(b, tuple):
            assert isinstance(a, tuple) and len(a) == len(b)
            for u, v in zip(a, b):
                assert u.dtype == v.dtype and u.shape == v.shape
                np.testing.assert_array_equal(u, v)
        else:
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def _pair(keras_legacy, directory, gen_kwargs=None, **kwargs):
    gen_kwargs = gen_kwargs or {}
    kit = keras_legacy(**gen_kwargs).flow_from_directory(directory, **kwargs)
    ours = tfdirpipe.ImageDataGenerator(**gen_kwargs).flow_from_directory(
        directory, verbose=False, **kwargs
    )
    return ours, kit


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_pixels_bit_exact_with_keras(keras_legacy, smooth_tree, interpolation, color_mode):
    ours, kit = _pair(
        keras_legacy, smooth_tree, target_size=(17, 23), color_mode=color_mode,
        interpolation=interpolation, shuffle=False, batch_size=5,
    )
    _assert_batches_equal(_ours_batches(ours), _keras_batches(kit))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_keep_aspect_ratio_bit_exact(keras_legacy, smooth_tree, interpolation):
    ours, kit = _pair(
        keras_legacy, smooth_tree, target_size=(16, 30), keep_aspect_ratio=True,
        interpolation=interpolation, shuffle=False, batch_size=7,
    )
    _assert_batches_equal(_ours_batches(ours), _keras_batches(kit))


@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
def test_class_modes_match_keras(keras_legacy, smooth_tree, class_mode):
    ours, kit = _pair(
        keras_legacy, smooth_tree, target_size=(12, 14), class_mode=class_mode,
        shuffle=False, batch_size=4,
    )
    _assert_batches_equal(_ours_batches(ours), _keras_batches(kit))


def test_rgba_channels_first_and_dtype(keras_legacy, smooth_tree):
    gen = {"data_format": "channels_first", "dtype": "float16", "rescale": 1 / 255}
    ours, kit = _pair(
        keras_legacy, smooth_tree, gen_kwargs=gen, target_size=(10, 11),
        color_mode="rgba", shuffle=False, batch_size=6,
    )
    assert ours.image_shape == kit.image_shape == (4, 10, 11)
    got, want = _ours_batches(ours), _keras_batches(kit)
    for (gx, gy), (wx, wy) in zip(got, want):
        assert gx.dtype == wx.dtype == np.float16 and gx.shape == wx.shape
        np.testing.assert_array_equal(gy, wy)
        # RGBA resizing goes through premultiplied alpha; this tree is opaque.
        np.testing.assert_array_equal(gx, wx)


def test_rescale_and_samplewise_match_keras(keras_legacy, smooth_tree):
    gen = {"rescale": 1 / 255, "samplewise_center": True, "samplewise_std_normalization": True}
    ours, kit = _pair(keras_legacy, smooth_tree, gen_kwargs=gen, target_size=(9, 9), shuffle=False)
    (gx, gy), (wx, wy) = _ours_batches(ours)[0], _keras_batches(kit)[0]
    np.testing.assert_array_equal(gy, wy)
    # float32 reductions in a different order: measured max |diff| ~2e-7.
    np.testing.assert_allclose(gx, wx, rtol=0, atol=2e-6)


def test_preprocessing_function_graph_and_numpy(keras_legacy, smooth_tree):
    def tf_fn(x):
        return x * 0.5 + 3.0

    def np_fn(x):
        return np.sqrt(np.asarray(x)) + np.float32(1)

    for fn in (tf_fn, np_fn):
        gen = {"preprocessing_function": fn, "rescale": 2.0}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ours, kit = _pair(
                keras_legacy, smooth_tree, gen_kwargs=gen, target_size=(8, 8), shuffle=False
            )
        slow = [w for w in caught if "not TF-traceable" in str(w.message)]
        assert len(slow) == (1 if fn is np_fn else 0)  # one warning, not one per graph
        (gx, _), (wx, _) = _ours_batches(ours)[0], _keras_batches(kit)[0]
        np.testing.assert_allclose(gx, wx, rtol=1e-6, atol=0)


def test_attributes_match_keras(keras_legacy, smooth_tree):
    ours, kit = _pair(
        keras_legacy, smooth_tree, gen_kwargs={"validation_split": 0.3}, target_size=(8, 9),
        subset="training", seed=5, batch_size=3, color_mode="grayscale", class_mode="sparse",
    )
    for name in (
        "directory", "filenames", "filepaths", "class_indices", "num_classes", "samples",
        "n", "batch_size", "shuffle", "seed", "image_shape", "target_size", "color_mode",
        "class_mode", "dtype", "data_format", "subset", "interpolation", "split",
        "white_list_formats", "allowed_class_modes", "batch_index", "total_batches_seen",
    ):
        assert getattr(ours, name) == getattr(kit, name), name
    np.testing.assert_array_equal(ours.classes, kit.classes)
    np.testing.assert_array_equal(ours.labels, kit.labels)
    assert ours.classes.dtype == kit.classes.dtype
    assert len(ours) == len(kit)
    assert ours.sample_weight is None


def test_found_line_and_verbose(smooth_tree, capsys):
    gen = tfdirpipe.ImageDataGenerator()
    gen.flow_from_directory(smooth_tree, target_size=(4, 4))
    assert capsys.readouterr().out == "Found 15 images belonging to 3 classes.\n"
    gen.flow_from_directory(smooth_tree, target_size=(4, 4), verbose=False)
    assert capsys.readouterr().out == ""


def test_first_epoch_order_is_keras_and_next_cycles(keras_legacy, indexed_tree):
    ours, kit = _pair(keras_legacy, indexed_tree, target_size=(6, 5), seed=42, batch_size=4)
    state = np.random.get_state()
    got = [next(ours) for _ in range(len(ours))]
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state[1:], after[1:]))
    assert np.array_equal(state[1], after[1])
    want = [next(kit) for _ in range(len(kit))]
    _assert_batches_equal(got, want)
    assert ours.total_batches_seen == len(ours) and ours.batch_index == 0
    # next() keeps going: the second epoch is a new permutation of the same files.
    second = [next(ours) for _ in range(len(ours))]
    first_labels = np.concatenate([y.argmax(1) for _, y in got])
    second_labels = np.concatenate([y.argmax(1) for _, y in second])
    assert sorted(first_labels) == sorted(second_labels)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(got, second))


def _decoded_pairs(batches, it):
    pairs = []
    for x, y in batches:
        for image, label in zip(x, y):
            cls, idx = testing.decode_indices(image)
            assert cls == int(np.argmax(label))
            pairs.append((cls, idx))
    return pairs


def test_image_label_pairing_survives_shuffle(indexed_tree):
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        indexed_tree, target_size=(5, 4), batch_size=5, verbose=False
    )
    seen = [_decoded_pairs(list(_ours_batches(it)), it) for _ in range(2)]
    expected = sorted(
        (it.class_indices[f.split("/")[0]], int(f.rsplit("_", 1)[1].split(".")[0]))
        for f in it.filenames
    )
    for epoch in seen:
        assert sorted(epoch) == expected  # every file exactly once per epoch
    assert seen[0] != seen[1]  # reshuffled


def test_epochs_are_deterministic_from_seed(indexed_tree):
    def run(seed):
        it = tfdirpipe.ImageDataGenerator().flow_from_directory(
            indexed_tree, target_size=(5, 4), batch_size=6, seed=seed, verbose=False
        )
        return [np.concatenate([y.argmax(1) for _, y in _ours_batches(it)]) for _ in range(3)]

    a, b, c = run(7), run(7), run(8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], a[2])
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))


def test_shuffle_false_is_file_order(indexed_tree):
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        indexed_tree, target_size=(5, 4), batch_size=4, shuffle=False, verbose=False
    )
    labels = np.concatenate([y.argmax(1) for _, y in _ours_batches(it)])
    np.testing.assert_array_equal(labels, it.classes)
    np.testing.assert_array_equal(it.index_array, np.arange(it.n))


def test_getitem_random_access_matches_epoch(indexed_tree):
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        indexed_tree, target_size=(5, 4), batch_size=4, seed=3, verbose=False
    )
    epoch = _ours_batches(it)
    for i in (2, 0, len(it) - 1):
        x, y = it[i]
        np.testing.assert_array_equal(x, epoch[i][0])
        np.testing.assert_array_equal(y, epoch[i][1])
    with pytest.raises(ValueError, match="Asked to retrieve element 5, but the Sequence has length 5"):
        it[5]
    order = it.index_array
    it.on_epoch_end()
    assert not np.array_equal(order, it.index_array)
    # The next pass reads the fresh epoch that it[i] now shows.
    x0, _ = it[0]
    np.testing.assert_array_equal(_ours_batches(it)[0][0], x0)


def test_is_a_dataset(indexed_tree):
    it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        indexed_tree, target_size=(5, 4), batch_size=4, verbose=False
    )
    assert isinstance(it, tf.data.Dataset)
    assert int(it.cardinality()) == len(it) == 5
    assert len(list(it.take(2))) == 2
    mapped = it.map(lambda x, y: (x * 2.0, y)).unbatch()
    assert sum(1 for _ in mapped) == it.samples
    spec = it.element_spec
    assert spec[0].shape.as_list() == [None, 5, 4, 3] and spec[1].shape.as_list() == [None, 3]


def test_model_fit_evaluate_predict(indexed_tree):
    import keras

    gen = tfdirpipe.ImageDataGenerator(rescale=1 / 255, validation_split=0.4)
    train = gen.flow_from_directory(indexed_tree, target_size=(8, 8), batch_size=4,
                                    subset="training", seed=1, verbose=False)
    val = gen.flow_from_directory(indexed_tree, target_size=(8, 8), batch_size=4,
                                  subset="validation", seed=1, verbose=False)
    assert not set(train.filenames) & set(val.filenames)
    model = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=3, validation_data=val, verbose=0)
    assert len(history.history["loss"]) == 3 and "val_loss" in history.history
    assert train.epoch == 2  # one fresh pass per epoch: epochs 0, 1, 2
    assert len(model.evaluate(val, verbose=0)) == 2
    assert model.predict(val, verbose=0).shape == (val.samples, 3)


def test_from_generator_recipe(indexed_tree):
    it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        indexed_tree, target_size=(5, 4), batch_size=4, verbose=False
    )
    ds = tf.data.Dataset.from_generator(
        lambda: it,
        output_signature=(
            tf.TensorSpec([None, 5, 4, 3], tf.float32), tf.TensorSpec([None, 3], tf.float32),
        ),
    )
    batches = list(ds)
    assert len(batches) == len(it)
    assert sum(int(x.shape[0]) for x, _ in batches) == it.samples


def test_empty_directory_next_gives_empty_batch(tmp_path):
    (tmp_path / "only").mkdir()
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        str(tmp_path), target_size=(4, 4), verbose=False
    )
    assert it.samples == 0 and len(it) == 0
    x, y = next(it)
    assert x.shape == (0, 4, 4, 3) and y.shape == (0, 1)
    assert list(it) == []


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"color_mode": "cmyk"}, ValueError, 'Invalid color mode: cmyk; expected "rgb", "rgba", or "grayscale". Received: color_mode=\'cmyk\''),
        ({"class_mode": "onehot"}, ValueError, "Invalid class_mode: expected one of 'categorical', 'binary', 'sparse', 'input', None. Received: class_mode='onehot'"),
        ({"target_size": 5}, TypeError, "`target_size` must be a tuple of two positive ints (height, width). Received: target_size=5"),
        ({"target_size": (0, 4)}, ValueError, "Received: target_size=(0, 4)"),
        ({"batch_size": 0}, ValueError, "`batch_size` must be a positive int. Received: batch_size=0"),
        ({"interpolation": "cubic"}, ValueError, "Received: interpolation='cubic'"),
        ({"subset": "test"}, ValueError, 'Invalid subset name: test; expected "training" or "validation". Received: subset=\'test\''),
        ({"subset": "validation"}, ValueError, "pass `ImageDataGenerator(validation_split=...)`"),
        ({"seed": -1}, ValueError, "Received: seed=-1"),
        ({"cache": 3}, TypeError, "Received: cache=3"),
    ],
)
def test_bad_arguments_fail_before_io(kwargs, error, message, tmp_path):
    missing = str(tmp_path / "does-not-exist")  # argument checks come before any I/O
    with pytest.raises(error) as info:
        tfdirpipe.ImageDataGenerator().flow_from_directory(missing, **kwargs)
    assert message in str(info.value)


def test_keras_raises_same_types(keras_legacy, smooth_tree):
    for kwargs in ({"color_mode": "cmyk"}, {"class_mode": "onehot"}, {"subset": "test"}):
        with pytest.raises(ValueError):
            keras_legacy().flow_from_directory(smooth_tree, **kwargs)
        with pytest.raises(ValueError):
            tfdirpipe.ImageDataGenerator().flow_from_directory(smooth_tree, **kwargs)


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tfdirpipe.ImageDataGenerator().flow_from_directory(str(tmp_path / "nope"))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"validation_split": 1.5}, ValueError, "`validation_split` must be strictly between 0 and 1."),
        ({"data_format": "NHWC"}, ValueError, "Received: data_format='NHWC'"),
        ({"preprocessing_function": 3}, TypeError, "Received: preprocessing_function=3"),
    ],
)
def test_generator_arguments(kwargs, error, message):
    with pytest.raises(error) as info:
        tfdirpipe.ImageDataGenerator(**kwargs)
    assert message in str(info.value)
