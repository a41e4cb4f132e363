"""``save_to_dir`` / ``save_prefix`` / ``save_format`` against the real Keras legacy iterators.

Keras writes ``{prefix}_{index}_{hash}.{format}`` for every image of every
batch it produces; files are matched here by the ``{prefix}_{index}_`` part
(the hash is random) and compared pixel for pixel.
"""

from __future__ import annotations

import os
import re
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tfdirpipe
from tfdirpipe import distribute, save, testing

BAD_FORMAT = (
    "Invalid save_format: `save_format` must be one of 'png', 'jpeg', 'jpg' (any case); "
    "images are encoded inside the tf.data graph, which writes PNG and JPEG only. "
    "Received: save_format='bmp'"
)


@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    """7 PNGs of assorted sizes, smooth random content (min-max scaling is not trivial)."""
    root = tmp_path_factory.mktemp("save_tree")
    testing.make_image_tree(
        root, classes=("cat", "dog"), per_class=(4, 3), size=((10, 14), (9, 13)),
        encode_index=False, seed=3,
    )
    return str(root)


@pytest.fixture(scope="module")
def arrays():
    """Float images in an odd range, one of them constant (Keras then writes zeros)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(-3, 7, size=(7, 6, 5, 4)).astype("float32")
    x[2] = 1.5
    return x, np.arange(7) % 2


def _saved(folder, prefix: str, fmt: str) -> dict[int, str]:
    """Sample index -> file, checking every name is Keras's pattern and indices are unique."""
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)_(\d+)\.{re.escape(fmt)}$")
    out: dict[int, str] = {}
    for name in os.listdir(folder):
        match = pattern.match(name)
        assert match, name
        assert int(match.group(2)) < 10_000_000
        index = int(match.group(1))
        assert index not in out, f"index {index} saved twice: {name}, {out[index]}"
        out[index] = os.path.join(folder, name)
    return out


def _pixels(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def _assert_same_files(ours: dict[int, str], theirs: dict[int, str], atol: int) -> None:
    assert sorted(ours) == sorted(theirs)
    for index in ours:
        got, want = _pixels(ours[index]), _pixels(theirs[index])
        assert got.shape == want.shape, index
        np.testing.assert_allclose(got.astype(int), want.astype(int), rtol=0, atol=atol)


def _dirs(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "keras"
    ours.mkdir()
    theirs.mkdir()
    return ours, theirs


# JPEG: TensorFlow and Pillow both encode with libjpeg(-turbo) at quality 75,
# 4:2:0; measured difference 0 after decoding, so none is allowed.
JPEG_ATOL = 0


@pytest.mark.parametrize(
    "color_mode, data_format, fmt",
    [
        ("rgb", "channels_last", "png"),
        ("grayscale", "channels_last", "png"),
        ("rgba", "channels_last", "png"),
        ("rgb", "channels_first", "png"),
        ("rgb", "channels_last", "jpeg"),
        ("grayscale", "channels_first", "jpg"),
    ],
)
def test_flow_from_directory_saves_keras_files(
    keras_legacy, tree, tmp_path, color_mode, data_format, fmt
):
    ours_dir, keras_dir = _dirs(tmp_path)
    kwargs = dict(
        target_size=(8, 9), color_mode=color_mode, batch_size=3, shuffle=False,
        save_prefix="aug", save_format=fmt,
    )
    gen = {"rescale": 1 / 255, "data_format": data_format}
    kit = keras_legacy(**gen).flow_from_directory(tree, save_to_dir=str(keras_dir), **kwargs)
    it = tfdirpipe.ImageDataGenerator(**gen).flow_from_directory(
        tree, save_to_dir=str(ours_dir), verbose=False, **kwargs
    )
    for i in range(len(it)):
        it[i]
        kit[i]
    ours, theirs = _saved(ours_dir, "aug", fmt), _saved(keras_dir, "aug", fmt)
    assert sorted(ours) == list(range(7))
    _assert_same_files(ours, theirs, atol=JPEG_ATOL if fmt != "png" else 0)


@pytest.mark.parametrize(
    "data_format, channels, fmt",
    [
        ("channels_last", 3, "png"),
        ("channels_last", 4, "png"),
        ("channels_first", 1, "png"),
        ("channels_first", 3, "jpeg"),
    ],
)
def test_flow_saves_keras_files(keras_legacy, arrays, tmp_path, data_format, channels, fmt):
    x, y = arrays
    x = x[..., :channels]
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    ours_dir, keras_dir = _dirs(tmp_path)
    kwargs = dict(batch_size=3, shuffle=False, save_prefix="f", save_format=fmt)
    kit = keras_legacy(data_format=data_format).flow(x, y, save_to_dir=str(keras_dir), **kwargs)
    it = tfdirpipe.ImageDataGenerator(data_format=data_format).flow(
        x, y, save_to_dir=str(ours_dir), **kwargs
    )
    for _ in range(len(it)):
        next(it)
        next(kit)
    ours, theirs = _saved(ours_dir, "f", fmt), _saved(keras_dir, "f", fmt)
    assert sorted(ours) == list(range(7))
    assert not _pixels(ours[2]).any()  # a constant image scales to zeros, as in Keras
    _assert_same_files(ours, theirs, atol=JPEG_ATOL if fmt != "png" else 0)


def test_saved_images_are_the_returned_augmented_images(tree, tmp_path):
    gen = tfdirpipe.ImageDataGenerator(rotation_range=40, zoom_range=0.3, horizontal_flip=True)
    it = gen.flow_from_directory(
        tree, target_size=(8, 9), batch_size=4, seed=7, save_to_dir=str(tmp_path),
        verbose=False,
    )
    x, _ = next(it)
    saved = _saved(tmp_path, "", "png")
    order = it.index_array[:4]
    assert sorted(saved) == sorted(order)
    for row, index in enumerate(order):
        want = np.asarray(keras.utils.array_to_img(x[row], "channels_last", scale=True))
        np.testing.assert_array_equal(_pixels(saved[index]), want)


def test_next_saves_only_the_batch_it_returns(tree, tmp_path):
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        tree, target_size=(8, 9), batch_size=2, seed=1, save_to_dir=str(tmp_path),
        verbose=False,
    )
    next(it)
    time.sleep(1.0)  # room for any read-ahead to show up
    assert sorted(_saved(tmp_path, "", "png")) == sorted(it.index_array[:2])
    next(it)
    time.sleep(1.0)
    assert sorted(_saved(tmp_path, "", "png")) == sorted(it.index_array[:4])


def test_getitem_saves_its_batch(arrays, tmp_path):
    x, y = arrays
    it = tfdirpipe.ImageDataGenerator().flow(
        x[..., :3], y, batch_size=3, shuffle=False, save_to_dir=str(tmp_path)
    )
    it[2]
    assert sorted(_saved(tmp_path, "", "png")) == [6]
    it[0]
    assert sorted(_saved(tmp_path, "", "png")) == [0, 1, 2, 6]


def test_fit_epoch_saves_every_image_once(tree, tmp_path):
    it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tree, target_size=(8, 9), batch_size=3, seed=1, save_to_dir=str(tmp_path),
        verbose=False,
    )
    model = keras.Sequential(
        [keras.Input((8, 9, 3)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")]
    )
    model.compile("sgd", "categorical_crossentropy")
    model.fit(it, epochs=1, shuffle=False, verbose=0)
    assert sorted(_saved(tmp_path, "", "png")) == list(range(7))


def test_names_reproducible_with_seed_and_new_each_epoch(arrays, tmp_path):
    x, y = arrays
    names = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        it = tfdirpipe.ImageDataGenerator().flow(
            x[..., :3], y, batch_size=4, seed=3, save_to_dir=str(folder), save_prefix="s"
        )
        for _ in range(2 * len(it)):  # two epochs
            next(it)
        names.append(sorted(os.listdir(folder)))
    assert names[0] == names[1]
    assert len(names[0]) == 14  # each epoch writes new names: nothing overwritten


def test_saving_leaves_batches_unchanged(arrays, tmp_path):
    x, y = arrays
    misc = np.arange(7, dtype="float32")[:, None]
    weights = np.linspace(0.1, 0.7, 7).astype("float32")
    gen = tfdirpipe.ImageDataGenerator(rotation_range=30, width_shift_range=0.2)
    kwargs = dict(batch_size=3, seed=4, sample_weight=weights)
    plain = gen.flow((x[..., :3], misc), y, **kwargs)
    saving = gen.flow((x[..., :3], misc), y, save_to_dir=str(tmp_path), **kwargs)
    assert saving.element_spec == plain.element_spec
    for _ in range(len(plain)):
        got, want = next(saving), next(plain)
        tf.nest.assert_same_structure(got, want)
        for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
            np.testing.assert_array_equal(a, b)
    assert len(os.listdir(tmp_path)) == 7  # images only, not the misc input


@pytest.mark.parametrize("class_mode", ["input", None])
def test_directory_class_modes_save_x_once(tree, tmp_path, class_mode):
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        tree, target_size=(8, 9), class_mode=class_mode, batch_size=4, shuffle=False,
        save_to_dir=str(tmp_path), save_format="PNG", verbose=False,
    )
    batch = it[0]
    x = batch[0] if class_mode == "input" else batch
    assert x.shape == (4, 8, 9, 3)
    saved = _saved(tmp_path, "", "PNG")  # extension spelled as given, like Keras
    assert sorted(saved) == [0, 1, 2, 3]
    for row in range(4):
        want = np.asarray(keras.utils.array_to_img(x[row], "channels_last", scale=True))
        np.testing.assert_array_equal(_pixels(saved[row]), want)


def test_bad_save_format_message(arrays, tree, tmp_path):
    x, y = arrays
    with pytest.raises(ValueError) as flow_err:
        tfdirpipe.ImageDataGenerator().flow(x, y, save_to_dir=str(tmp_path), save_format="bmp")
    with pytest.raises(ValueError) as dir_err:
        tfdirpipe.ImageDataGenerator().flow_from_directory(
            tree, save_to_dir=str(tmp_path), save_format="bmp", verbose=False
        )
    assert str(flow_err.value) == str(dir_err.value) == BAD_FORMAT


def test_save_args_checked_up_front(arrays, tree, tmp_path):
    x, y = arrays
    gen = tfdirpipe.ImageDataGenerator()
    missing = str(tmp_path / "nope")
    with pytest.raises(FileNotFoundError) as err:
        gen.flow_from_directory(tree, save_to_dir=missing, verbose=False)
    assert str(err.value) == (
        f"Directory not found: `save_to_dir` does not exist. Received: save_to_dir={missing!r}"
    )
    assert not os.path.exists(missing)  # never created
    with pytest.raises(ValueError) as err:
        gen.flow_from_directory(
            tree, color_mode="rgba", save_to_dir=str(tmp_path), save_format="jpeg", verbose=False
        )
    assert str(err.value) == (
        "`save_format='jpeg'` cannot hold 4-channel (RGBA) images; pass save_format='png'. "
        "Received: save_format='jpeg'"
    )
    with pytest.raises(ValueError, match=r"1, 3 or 4 channels, as `keras.utils.array_to_img` "
                       r"does; these images have 2\."), pytest.warns(UserWarning, match="2 channels"):
        gen.flow(x[..., :2], y, save_to_dir=str(tmp_path))
    with pytest.raises(TypeError) as err:
        gen.flow(x, y, save_to_dir=str(tmp_path), save_prefix=3)
    assert str(err.value) == "`save_prefix` must be a str. Received: save_prefix=3"
    assert os.listdir(tmp_path) == []


def test_service_refuses_save_to_dir(tree, tmp_path):
    it = tfdirpipe.ImageDataGenerator().flow_from_directory(
        tree, target_size=(8, 9), save_to_dir=str(tmp_path), verbose=False
    )
    with pytest.raises(ValueError, match=r"^tf\.data service workers cannot `save_to_dir`"):
        distribute.epoch_dataset(it, 0)


def test_to_uint8_is_array_to_img():
    rng = np.random.default_rng(9)
    images = rng.normal(size=(5, 4, 3, 3)).astype("float32") * 50
    images[1] = -2.0  # constant
    images[2, 0, 0, 0] = np.float32(1e-30)  # tiny spread
    images[2, 1:] = 0.0
    got = save.to_uint8(tf.constant(images), "channels_last").numpy()
    for row in range(5):
        want = np.asarray(keras.utils.array_to_img(images[row], "channels_last", scale=True))
        np.testing.assert_array_equal(got[row], want)
