"""`tfdirpipe.image_dataset_from_directory` against the real Keras 3 function.

Every parity test builds both datasets on the same generated tree of real
PNG/JPEG/BMP/GIF files and compares element specs, file paths, class names,
printed lines and every element (order, labels and pixels) exactly.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from tfdirpipe import dataset as dataset_lib  # noqa: E402
from tfdirpipe.dataset import NoImagesFoundError, image_dataset_from_directory  # noqa: E402

SIZE = (12, 16)  # small output size keeps every comparison fast
JPEG_GRAY_MAX_DIFF = 7.0  # measured 6.5625; see test_grayscale_differs_from_keras_by_luma_only

# (relative path, Pillow mode, (width, height)) of the main tree: 3 classes,
# 10 files each, every Keras format, two sizes, nested folders, odd names.
_SIZES = ((20, 30), (33, 17))
_FORMATS = ("png", "jpg", "bmp", "gif", "jpeg", "PNG")


def _main_tree_files():
    files = []
    for c, name in enumerate(("b_dog", "a_cat", "c_bird")):
        for i in range(10):
            ext = _FORMATS[(i + c) % len(_FORMATS)]
            folder = ("", "sub/", "sub/deeper/", "sub b/")[i % 4]
            mode = "RGB"
            if ext.lower() == "png":
                mode = ("RGB", "RGBA", "L", "P")[i % 4]
            files.append((f"{name}/{folder}img_{i:02d}.{ext}", mode, _SIZES[(i + c) % 2]))
    return files


def _write_image(path, mode, size, seed):
    """Noise images (resizing them is a real test), saved by extension."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    if mode in ("RGB", "RGBA"):
        channels = len(mode)
        pixels = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        if mode == "RGBA":
            pixels[..., 3] = rng.integers(1, 256, (h, w), dtype=np.uint8)
        image = Image.fromarray(pixels, mode)
    else:
        image = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")
        if mode == "P":
            image = image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    ext = path.rsplit(".", 1)[1].lower()
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "gif": "GIF"}[ext]
    if fmt == "JPEG":
        image.convert("RGB").save(path, fmt, quality=90)
    elif fmt in ("BMP", "GIF") and mode == "RGBA":
        image.convert("RGB").save(path, fmt)
    else:
        image.save(path, fmt)


def _make_tree(root, files):
    for k, (rel, mode, size) in enumerate(files):
        _write_image(os.path.join(root, rel), mode, size, seed=k)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("idfd") / "main")
    _make_tree(root, _main_tree_files())
    with open(os.path.join(root, "a_cat", "notes.txt"), "w") as f:
        f.write("not an image")
    os.makedirs(os.path.join(root, "empty_class"))
    return root


@pytest.fixture(scope="module")
def two_class_tree(tree, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("idfd") / "two")
    for name in ("a_cat", "c_bird"):
        shutil.copytree(os.path.join(tree, name), os.path.join(root, name))
    return root


# Formats Keras's tf.image.decode_image accepts for each color mode (it
# refuses grayscale GIF/BMP and RGBA GIF/JPEG; see test_keras_refused_decodes).
_MODE_EXTS = {"rgb": ("png", "jpg", "bmp", "gif"), "rgba": ("png", "bmp"), "grayscale": ("png", "jpg")}


@pytest.fixture(scope="module")
def mode_trees(tmp_path_factory):
    trees = {}
    for color_mode, exts in _MODE_EXTS.items():
        files = []
        for c in range(3):
            for i in range(8):
                ext = exts[(i + c) % len(exts)]
                mode = ("RGB", "RGBA", "L", "P")[i % 4] if ext == "png" else "RGB"
                files.append((f"class_{c}/{('', 'nested/')[i % 2]}{i}.{ext}", mode, _SIZES[i % 2]))
        trees[color_mode] = _make_tree(str(tmp_path_factory.mktemp("mode") / color_mode), files)
    return trees


def _both(directory, capsys=None, **kwargs):
    """(tfdirpipe result, Keras result), with the printed lines of each."""
    kwargs.setdefault("image_size", SIZE)
    if capsys is not None:
        capsys.readouterr()
    ours = image_dataset_from_directory(directory, **kwargs)
    ours_out = capsys.readouterr().out if capsys is not None else None
    theirs = keras.utils.image_dataset_from_directory(directory, **kwargs)
    theirs_out = capsys.readouterr().out if capsys is not None else None
    return ours, theirs, ours_out, theirs_out


def _elements(ds):
    return [tf.nest.map_structure(lambda t: t.numpy(), e) for e in ds]


def assert_same_dataset(ours, theirs):
    """Same spec, attributes and elements, exactly."""
    spec_o = tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), ours.element_spec)
    spec_t = tf.nest.map_structure(lambda s: (tuple(s.shape), s.dtype), theirs.element_spec)
    assert spec_o == spec_t
    assert ours.class_names == theirs.class_names
    assert ours.file_paths == theirs.file_paths
    eo, et = _elements(ours), _elements(theirs)
    assert len(eo) == len(et)
    for a, b in zip(eo, et):
        tf.nest.assert_same_structure(a, b)
        for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------
# Parity with Keras.


def test_default_call_matches_keras(tree, capsys):
    ours, theirs, out_o, out_t = _both(tree, capsys, seed=7)
    assert out_o == out_t == "Found 30 files belonging to 4 classes.\n"
    assert ours.class_names == ["a_cat", "b_dog", "c_bird", "empty_class"]
    assert isinstance(ours, tf.data.Dataset)
    assert_same_dataset(ours, theirs)


@pytest.mark.parametrize("label_mode", ["int", "categorical", None])
def test_label_modes_match_keras(tree, label_mode, capsys):
    ours, theirs, out_o, out_t = _both(tree, capsys, label_mode=label_mode, seed=3, batch_size=7)
    assert out_o == out_t
    assert_same_dataset(ours, theirs)


def test_binary_label_mode_matches_keras(two_class_tree):
    ours, theirs, _, _ = _both(two_class_tree, label_mode="binary", seed=11, batch_size=5)
    assert ours.element_spec[1].shape.as_list() == [None, 1]
    assert_same_dataset(ours, theirs)


@pytest.mark.parametrize("color_mode", ["rgb", "rgba"])
def test_color_modes_match_keras(mode_trees, color_mode):
    # Pixels are exact: tfdirpipe.decode with the default DCT method gives
    # tf.image.decode_image's pixels for JPEG, PNG (every mode), BMP and GIF,
    # and the resize op is the same.
    ours, theirs, _, _ = _both(mode_trees[color_mode], color_mode=color_mode, seed=5, batch_size=6)
    channels = {"rgb": 3, "rgba": 4}[color_mode]
    assert ours.element_spec[0].shape.as_list() == [None, *SIZE, channels]
    assert_same_dataset(ours, theirs)


def test_grayscale_differs_from_keras_by_luma_only(mode_trees):
    """Grayscale is Pillow's luma here, libpng's / libjpeg's in Keras.

    tfdirpipe.decode converts colour to gray with Pillow's integer formula
    ``(19595 R + 38470 G + 7471 B + 0x8000) >> 16`` (the legacy generator's
    pixels); Keras's ``decode_image(channels=1)`` lets libpng round its own
    fixed-point luma (0 or 1 lower than Pillow's) and lets libjpeg return
    the stored Y plane (no chroma upsampling, so noisy 4:2:0 colour JPEGs
    differ by up to ~20 levels). Gray sources are exact. Measured bounds on
    these noise images, after a bilinear resize to 12x16.
    """
    ours, theirs, _, _ = _both(
        mode_trees["grayscale"], color_mode="grayscale", shuffle=False, batch_size=None
    )
    assert ours.element_spec[0].shape.as_list() == [*SIZE, 1]
    assert ours.file_paths == theirs.file_paths
    worst = {"png gray": 0.0, "png colour": 0.0, "jpg": 0.0}
    for path, (xo, yo), (xt, yt) in zip(ours.file_paths, _elements(ours), _elements(theirs)):
        assert yo == yt and xo.dtype == xt.dtype == np.float32
        index = int(os.path.basename(path).split(".")[0])
        kind = "jpg" if path.endswith(".jpg") else ("png gray" if index % 4 == 2 else "png colour")
        worst[kind] = max(worst[kind], float(np.abs(xo - xt).max()))
    assert worst["png gray"] == 0.0
    assert 0.0 < worst["png colour"] <= 1.0
    assert 0.0 < worst["jpg"] <= JPEG_GRAY_MAX_DIFF


def test_labels_list_matches_keras(tree, capsys):
    n = 30
    labels = [(i * 7) % 5 for i in range(n)]  # classes 0..4 (the 4 tree folders are ignored)
    kept = list(labels)
    for label_mode in ("int", "categorical"):
        ours, theirs, out_o, out_t = _both(
            tree, capsys, labels=list(labels), label_mode=label_mode, seed=1, batch_size=8
        )
        assert out_o == out_t == "Found 30 files belonging to 5 classes.\n"
        assert ours.class_names == ["0", "1", "2", "3", "4"]
        assert_same_dataset(ours, theirs)
    assert labels == kept


def test_labels_list_with_gaps_is_one_hot_like_keras(tree):
    # Keras one-hot encodes with depth len(set(labels)): label 7 of {0, 7}
    # is all zeros. Reproduced, not fixed.
    labels = [0, 7] * 15
    ours, theirs, _, _ = _both(tree, labels=labels, label_mode="categorical", shuffle=False)
    assert_same_dataset(ours, theirs)
    ys = np.concatenate([y for _, y in _elements(ours)])
    assert ys.shape == (30, 2) and ys[1].tolist() == [0.0, 0.0]


def test_labels_none_matches_keras(tree, capsys):
    ours, theirs, out_o, out_t = _both(tree, capsys, labels=None, seed=2, batch_size=4)
    assert out_o == out_t == "Found 30 files.\n"
    assert ours.class_names is None
    assert_same_dataset(ours, theirs)


def test_class_names_order_matches_keras(tree, capsys):
    names = ["c_bird", "a_cat"]
    ours, theirs, out_o, out_t = _both(tree, capsys, class_names=names, shuffle=False)
    assert out_o == out_t == "Found 20 files belonging to 2 classes.\n"
    assert ours.class_names == names
    labels = np.concatenate([y for _, y in _elements(ours)])
    assert labels.tolist() == [0] * 10 + [1] * 10  # c_bird first: label 0
    assert_same_dataset(ours, theirs)


@pytest.mark.parametrize("subset", ["training", "validation"])
def test_subset_matches_keras(tree, subset, capsys):
    ours, theirs, out_o, out_t = _both(
        tree, capsys, validation_split=0.3, subset=subset, seed=1337, batch_size=4
    )
    count = 21 if subset == "training" else 9
    assert out_o == out_t == f"Found 30 files belonging to 4 classes.\nUsing {count} files for {subset}.\n"
    assert len(ours.file_paths) == count
    assert_same_dataset(ours, theirs)


def test_subset_both_matches_keras(tree, capsys):
    ours, theirs, out_o, out_t = _both(
        tree, capsys, validation_split=0.2, subset="both", seed=42, batch_size=5
    )
    assert out_o == out_t == (
        "Found 30 files belonging to 4 classes.\n"
        "Using 24 files for training.\nUsing 6 files for validation.\n"
    )
    assert isinstance(ours, list) and len(ours) == 2  # a list, as Keras
    for a, b in zip(ours, theirs):
        assert_same_dataset(a, b)
    train, val = ours
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == sorted(theirs[0].file_paths + theirs[1].file_paths)


def test_unbatched_matches_keras(tree):
    ours, theirs, _, _ = _both(tree, batch_size=None, seed=9, label_mode="categorical")
    assert ours.element_spec[0].shape.as_list() == [*SIZE, 3]
    assert_same_dataset(ours, theirs)


def test_batches_larger_than_the_unrolled_limit_match_keras(tree):
    """Batches over `pipeline.MAX_UNROLLED_BATCH` take per-image maps."""
    from tfdirpipe import pipeline

    ours, theirs, _, _ = _both(tree, seed=6, batch_size=pipeline.MAX_UNROLLED_BATCH + 1)
    assert_same_dataset(ours, theirs)


@pytest.mark.parametrize("batch_size", [4, None])
def test_a_bad_file_fails_with_its_name(tree, tmp_path, batch_size):
    """A truncated JPEG among good files (a batch's hot path and its checked
    loop alike) fails with the file's path and the reason."""
    root = tmp_path / "bad"
    shutil.copytree(os.path.join(tree, "a_cat"), root / "a_cat")
    good = next(p for p in sorted((root / "a_cat").glob("*.jpg")))
    bad = root / "a_cat" / "zz_truncated.jpg"
    bad.write_bytes(good.read_bytes()[:200])
    ds = image_dataset_from_directory(
        str(root), batch_size=batch_size, shuffle=False, image_size=SIZE, verbose=False
    )
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=rf"cannot decode {re.escape(str(bad))}: truncated JPEG",
    ):
        _elements(ds)


@pytest.mark.parametrize(
    "aspect,interpolation",
    [
        (None, "bilinear"), (None, "nearest"), (None, "area"), (None, "gaussian"),
        ("crop_to_aspect_ratio", "bilinear"), ("crop_to_aspect_ratio", "nearest"),
        ("crop_to_aspect_ratio", "bicubic"),
        ("pad_to_aspect_ratio", "bilinear"), ("pad_to_aspect_ratio", "nearest"),
        ("pad_to_aspect_ratio", "lanczos3"),
    ],
)
def test_resizing_matches_keras(tree, interpolation, aspect):
    kwargs = {aspect: True} if aspect else {}
    ours, theirs, _, _ = _both(
        tree, shuffle=False, batch_size=30, interpolation=interpolation, image_size=(10, 21), **kwargs
    )
    # Keras returns uint8 images for "nearest" (tf.image.resize keeps the dtype).
    expected = tf.uint8 if interpolation == "nearest" else tf.float32
    assert ours.element_spec[0].dtype == expected
    assert_same_dataset(ours, theirs)


def test_pad_to_aspect_ratio_pads_with_zeros(tree):
    ds = image_dataset_from_directory(
        tree, shuffle=False, image_size=(10, 40), pad_to_aspect_ratio=True, verbose=False
    )
    x = next(iter(ds))[0].numpy()
    assert (x[:, :, :5] == 0).all()  # 20x30 and 33x17 sources both pad left and right


@pytest.mark.parametrize("aspect", ["crop_to_aspect_ratio", "pad_to_aspect_ratio", None])
def test_channels_first_matches_keras(tree, aspect):
    kwargs = {aspect: True} if aspect else {}
    ours, theirs, _, _ = _both(tree, data_format="channels_first", seed=4, batch_size=8, **kwargs)
    assert ours.element_spec[0].shape.as_list() == [None, 3, *SIZE]
    assert_same_dataset(ours, theirs)


def test_shuffle_false_is_walk_order(tree):
    ours, theirs, _, _ = _both(tree, shuffle=False, batch_size=64)
    rel = [os.path.relpath(p, tree) for p in ours.file_paths]
    # Directories sorted by full path ("sub" < "sub b" < "sub/deeper"), files
    # sorted inside each; extensions match in any case; notes.txt is skipped.
    assert rel[:10] == [
        "a_cat/img_00.jpg", "a_cat/img_04.PNG", "a_cat/img_08.gif",
        "a_cat/sub/img_01.bmp", "a_cat/sub/img_05.png", "a_cat/sub/img_09.jpeg",
        "a_cat/sub b/img_03.jpeg", "a_cat/sub b/img_07.bmp",
        "a_cat/sub/deeper/img_02.gif", "a_cat/sub/deeper/img_06.jpg",
    ]
    assert_same_dataset(ours, theirs)


@pytest.mark.parametrize("follow_links", [False, True])
def test_follow_links_matches_keras(tree, tmp_path, follow_links):
    root = str(tmp_path / "links")
    shutil.copytree(tree, root)
    os.symlink(os.path.join(root, "c_bird", "sub"), os.path.join(root, "a_cat", "linked"))
    os.symlink(os.path.join(root, "b_dog", "img_04.jpeg"), os.path.join(root, "a_cat", "file_link.jpg"))
    ours, theirs, _, _ = _both(root, follow_links=follow_links, shuffle=False, batch_size=64)
    assert len(ours.file_paths) == (36 if follow_links else 31)
    assert_same_dataset(ours, theirs)


def test_shuffle_order_matches_keras_over_epochs(tree):
    # The file-list permutation and the batch shuffle are Keras's; the second
    # epoch (reshuffled by tf.data) matches too.
    ours, theirs, _, _ = _both(tree, seed=123, batch_size=3, label_mode=None, image_size=(2, 2))
    assert ours.file_paths == theirs.file_paths
    for _ in range(2):
        np.testing.assert_array_equal(
            np.concatenate(_elements(ours)), np.concatenate(_elements(theirs))
        )


def test_same_seed_same_order_other_seed_other_order(tree):
    def order(seed):
        ds = image_dataset_from_directory(
            tree, seed=seed, batch_size=4, label_mode=None, image_size=(2, 2), verbose=False
        )
        return ds.file_paths, np.concatenate(_elements(ds))

    a, b, c = order(5), order(5), order(6)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0] != c[0]


def test_pathlib_directory_gives_the_same_paths(tree):
    import pathlib

    kwargs = dict(seed=8, image_size=(4, 4), verbose=False)
    ours = image_dataset_from_directory(pathlib.Path(tree), **kwargs)
    theirs = keras.utils.image_dataset_from_directory(pathlib.Path(tree), **kwargs)
    assert ours.file_paths == theirs.file_paths
    assert all(isinstance(p, str) for p in ours.file_paths)


def test_remote_directory_matches_keras(tree):
    # ram:// is a tf.io.gfile filesystem: listing and reading go through gfile.
    root = "ram://idfd_remote/main"
    for dirpath, _, files in os.walk(tree):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), tree)
            tf.io.gfile.makedirs(os.path.dirname(f"{root}/{rel}"))
            tf.io.gfile.copy(os.path.join(dirpath, name), f"{root}/{rel}", overwrite=True)
    ours, theirs, _, _ = _both(root, seed=21, batch_size=8, label_mode="categorical")
    assert ours.file_paths[0].startswith("ram://idfd_remote/main/")
    assert_same_dataset(ours, theirs)


def test_keras_permutation_golden():
    # Golden order for seed 1337 (numpy's RandomState shuffle, which Keras
    # uses). Do not edit casually: a change here breaks parity with Keras.
    assert dataset_lib.keras_permutation(10, 1337).tolist() == [6, 3, 0, 4, 5, 2, 1, 9, 8, 7]
    paths = [f"f{i}" for i in range(23)]
    expected = list(paths)
    np.random.RandomState(99).shuffle(expected)
    assert [paths[i] for i in dataset_lib.keras_permutation(23, 99)] == expected


def test_global_numpy_rng_untouched(tree):
    np.random.seed(0)
    _, keys, pos, *_ = np.random.get_state()
    image_dataset_from_directory(tree, seed=None, image_size=(4, 4), verbose=False)
    image_dataset_from_directory(tree, seed=3, image_size=(4, 4), verbose=False)
    _, keys_after, pos_after, *_ = np.random.get_state()
    np.testing.assert_array_equal(keys_after, keys)
    assert pos_after == pos
    keras.utils.image_dataset_from_directory(tree, seed=None, image_size=(4, 4), verbose=False)
    assert np.random.get_state()[2] != pos  # Keras draws its seed from the global RNG


# ----------------------------------------------------------------------------
# Deliberate differences.


def test_hidden_and_system_entries_are_skipped(tree, tmp_path, capsys):
    root = str(tmp_path / "hidden")
    shutil.copytree(tree, root)
    _write_image(os.path.join(root, "a_cat", ".hidden.png"), "RGB", (20, 30), seed=99)
    _write_image(os.path.join(root, "a_cat", "._img_00.jpg"), "RGB", (20, 30), seed=98)
    _write_image(os.path.join(root, "__MACOSX", "a_cat", "img.png"), "RGB", (20, 30), seed=97)
    with open(os.path.join(root, ".DS_Store"), "wb") as f:
        f.write(b"\0\0\0\1Bud1")
    ours, theirs, out_o, out_t = _both(root, capsys, shuffle=False)
    # Keras lists the hidden files and takes __MACOSX as a class.
    assert out_t == "Found 33 files belonging to 5 classes.\n"
    assert out_o.splitlines()[0] == "Found 30 files belonging to 4 classes."
    # .hidden.png, ._img_00.jpg and the __MACOSX folder (.DS_Store, a file at
    # the top, is no class candidate in either).
    assert out_o.splitlines()[1].startswith("Ignored 3 hidden or system entries")
    assert [p for p in theirs.file_paths if "/." not in p and "__MACOSX" not in p] == ours.file_paths
    assert "__MACOSX" not in ours.class_names


def test_keras_refused_decodes_work(tmp_path):
    # Keras fails mid-iteration on grayscale GIF/BMP and RGBA GIF/JPEG.
    root = str(tmp_path / "refused")
    _make_tree(root, [("a/x.gif", "P", (20, 30)), ("a/y.bmp", "RGB", (33, 17)), ("b/z.jpg", "RGB", (20, 30))])
    for color_mode, channels in (("grayscale", 1), ("rgba", 4)):
        kwargs = dict(color_mode=color_mode, shuffle=False, image_size=(5, 5), verbose=False)
        with pytest.raises(tf.errors.InvalidArgumentError):
            _elements(keras.utils.image_dataset_from_directory(root, **kwargs))
        (x, _), = _elements(image_dataset_from_directory(root, **kwargs))
        assert x.shape == (3, 5, 5, channels)


def test_crop_with_gaussian_interpolation_works(tree):
    # Keras's crop path (its backend resize) refuses "gaussian"/"mitchellcubic".
    kwargs = dict(crop_to_aspect_ratio=True, interpolation="gaussian", shuffle=False, image_size=(6, 6))
    with pytest.raises(ValueError, match="Invalid value for argument `interpolation`"):
        keras.utils.image_dataset_from_directory(tree, **kwargs, verbose=False)
    ds = image_dataset_from_directory(tree, **kwargs, verbose=False)
    image = tf.image.decode_image(tf.io.read_file(ds.file_paths[0]), 3, expand_animations=False)
    h, w = image.shape[:2]
    side = min(h, w)  # square target: the centred square
    top, left = (h - side) // 2, (w - side) // 2
    assert (h, w, top, left) == (17, 33, 0, 8)
    expected = tf.image.resize(image[top : top + side, left : left + side], (6, 6), method="gaussian")
    np.testing.assert_array_equal(next(iter(ds))[0][0].numpy(), expected.numpy())


def test_labels_tuple_with_shuffle(tree):
    labels = tuple(i % 3 for i in range(30))
    with pytest.raises(TypeError, match="does not support item assignment"):
        keras.utils.image_dataset_from_directory(tree, labels=labels, seed=1, verbose=False)
    ours = image_dataset_from_directory(tree, labels=labels, seed=1, image_size=SIZE, verbose=False)
    theirs = keras.utils.image_dataset_from_directory(
        tree, labels=list(labels), seed=1, image_size=SIZE, verbose=False
    )
    assert_same_dataset(ours, theirs)


def test_tiny_validation_split(tree, capsys):
    # int(0.02 * 30) == 0: Keras's training slice [:-0] is empty and its
    # validation subset is every file. Here training keeps every file and
    # validation raises.
    kwargs = dict(validation_split=0.02, seed=1, image_size=(4, 4))
    with pytest.raises(ValueError, match="No images found"):
        keras.utils.image_dataset_from_directory(tree, subset="training", **kwargs)
    assert len(keras.utils.image_dataset_from_directory(tree, subset="validation", **kwargs).file_paths) == 30
    capsys.readouterr()
    assert len(image_dataset_from_directory(tree, subset="training", **kwargs).file_paths) == 30
    assert capsys.readouterr().out.endswith("Using 30 files for training.\n")
    for subset in ("validation", "both"):
        with pytest.raises(ValueError, match=r"validation_split=0.02` of 30 files rounds down to 0"):
            image_dataset_from_directory(tree, subset=subset, **kwargs)


def test_verbose_false_prints_nothing(tree, capsys):
    kwargs = dict(validation_split=0.5, subset="both", seed=1, image_size=(4, 4), verbose=False)
    capsys.readouterr()
    image_dataset_from_directory(tree, **kwargs)
    assert capsys.readouterr().out == ""
    keras.utils.image_dataset_from_directory(tree, **kwargs)
    assert capsys.readouterr().out == "Using 15 files for training.\nUsing 15 files for validation.\n"


# ----------------------------------------------------------------------------
# Errors: same type and message as Keras, before any I/O.

_MISSING = "/nonexistent/tfdirpipe/dir"

# (kwargs, exception type, message fragment) where Keras raises the same.
_KERAS_ERRORS = [
    (dict(labels="oops"), ValueError, "`labels` argument should be a list/tuple of integer labels"),
    (dict(labels=[0, 1], class_names=["a"]), ValueError, 'You can only pass `class_names` if `labels="inferred"`'),
    (dict(label_mode="sparse"), ValueError, '`label_mode` argument must be one of "int", "categorical", "binary", or None. Received: label_mode=sparse'),
    (dict(color_mode="RGB"), ValueError, '`color_mode` must be one of {"rgb", "rgba", "grayscale"}. Received: color_mode=RGB'),
    (dict(image_size=(1, 2, 3)), ValueError, "Invalid `image_size` value. Expected a tuple of 2 integers. Received: image_size=(1, 2, 3)"),
    (dict(image_size="big"), ValueError, "Invalid `image_size` value. Expected a tuple of 2 integers."),
    (dict(interpolation="cubic"), ValueError, "Argument `interpolation` should be one of ('bilinear', 'nearest', 'bicubic', 'area', 'lanczos3', 'lanczos5', 'gaussian', 'mitchellcubic'). Received: interpolation=cubic"),
    (dict(format="torch"), ValueError, '`format` should be either "tf" or "grain". Received: format=torch'),
    (dict(validation_split=1.5, subset="training", seed=1), ValueError, "`validation_split` must be between 0 and 1, received: 1.5"),
    (dict(validation_split=0.2), ValueError, "If `subset` is set, `validation_split` must be set, and inversely."),
    (dict(subset="training"), ValueError, "If `subset` is set, `validation_split` must be set, and inversely."),
    (dict(validation_split=0.2, subset="test", seed=1), ValueError, '`subset` must be either "training", "validation" or "both", received: test'),
    (dict(validation_split=0.2, subset="training"), ValueError, "If using `validation_split` and shuffling the data, you must provide a `seed` argument"),
    (dict(labels=None, class_names=["a"]), ValueError, "When `labels=None` (no labels), argument `class_names` cannot be specified."),
    (dict(label_mode=None, class_names=["a"]), ValueError, "When `labels=None` (no labels), argument `class_names` cannot be specified."),
    (dict(labels=[0, 1], class_names=[]), ValueError, "When argument `labels` is specified, argument `class_names` cannot be specified"),
]


@pytest.mark.parametrize("kwargs,exc,message", _KERAS_ERRORS)
def test_errors_match_keras(kwargs, exc, message):
    # The directory does not exist: each check must fire before any I/O.
    with pytest.raises(exc) as ours:
        image_dataset_from_directory(_MISSING, **kwargs)
    assert message in str(ours.value)
    with pytest.raises(exc) as theirs:
        keras.utils.image_dataset_from_directory(_MISSING, **kwargs)
    assert message in str(theirs.value)


def test_errors_after_listing_match_keras(tree, tmp_path):
    cases = [
        (dict(class_names=["a_cat", "zebra"]), "The `class_names` passed did not match the names of the subdirectories of the target directory. Expected: ['a_cat', 'b_dog', 'c_bird', 'empty_class'] (or a subset of it), but received: class_names=['a_cat', 'zebra']"),
        (dict(labels=[0, 1, 2]), f"Expected the lengths of `labels` to match the number of files in the target directory. len(labels) is 3 while we found 30 files in directory {tree}."),
        (dict(label_mode="binary"), "When passing `label_mode=\"binary\"`, there must be exactly 2 class_names. Received: class_names=['a_cat', 'b_dog', 'c_bird', 'empty_class']"),
        (dict(class_names=["empty_class"]), f"No images found in directory {tree}. Allowed formats: ('.bmp', '.gif', '.jpeg', '.jpg', '.png')"),
    ]
    for kwargs, message in cases:
        for fn in (image_dataset_from_directory, keras.utils.image_dataset_from_directory):
            with pytest.raises(ValueError) as info:
                fn(tree, verbose=False, **kwargs)
            assert str(info.value) == message, fn


def test_no_images_is_also_file_not_found(tmp_path):
    (tmp_path / "cls").mkdir()
    with pytest.raises(NoImagesFoundError) as info:
        image_dataset_from_directory(str(tmp_path), verbose=False)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    with pytest.raises(NoImagesFoundError, match="No training images found"):
        image_dataset_from_directory(
            str(tmp_path), validation_split=0.5, subset="both", seed=1, verbose=False
        )


# Errors raised here before any I/O where Keras raises later, differently or never.
_OWN_ERRORS = [
    # Keras: "The truth value of an array ... is ambiguous".
    (dict(labels=np.arange(3)), ValueError, "`labels` argument should be a list/tuple of integer labels"),
    (dict(format="grain"), NotImplementedError, 'pass `format="tf"`'),
    (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ValueError, "Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`."),
    (dict(labels=[0, 1, 2], label_mode="binary"), ValueError, "When passing `label_mode=\"binary\"`, there must be exactly 2 class_names. Received: class_names=['0', '1', '2']"),
    (dict(class_names=["a", "b", "c"], label_mode="binary"), ValueError, "there must be exactly 2 class_names"),
    (dict(labels=[0, 1.5]), TypeError, "`labels` must hold integer class indices."),
    (dict(class_names="a_cat"), TypeError, "`class_names` must be None or a list"),
    (dict(class_names=["a_cat", "a_cat"]), ValueError, "`class_names` must not repeat a name"),
    (dict(image_size=(0, 10)), ValueError, "Invalid `image_size` value."),
    (dict(batch_size=0), ValueError, "`batch_size` must be a positive int. Received: batch_size=0"),
    (dict(batch_size=2.0), TypeError, "`batch_size` must be a positive int."),
    (dict(seed=-1), ValueError, "`seed` must be None or an int in [0, 2**32)"),
    (dict(seed="1"), TypeError, "`seed` must be None or an int"),
    (dict(shuffle="yes"), TypeError, "`shuffle` must be a bool"),
    (dict(interpolation=3), TypeError, "Argument `interpolation` should be one of"),
    (dict(data_format="NHWC"), ValueError, "The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: data_format=nhwc"),
    (dict(validation_split="0.2", subset="training", seed=1), TypeError, "`validation_split` must be None or a float"),
    (dict(), FileNotFoundError, "Directory not found"),
]


@pytest.mark.parametrize("kwargs,exc,message", _OWN_ERRORS)
def test_errors_before_io(kwargs, exc, message):
    with pytest.raises(exc) as info:
        image_dataset_from_directory(_MISSING, **kwargs)
    assert message in str(info.value)


def test_data_format_none_follows_keras_config(tree):
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        ds = image_dataset_from_directory(tree, image_size=(4, 5), verbose=False)
    finally:
        keras.config.set_image_data_format(previous)
    assert ds.element_spec[0].shape.as_list() == [None, 3, 4, 5]


def test_pipeline_has_no_py_function(tree):
    ds = image_dataset_from_directory(tree, seed=1, image_size=(4, 4), verbose=False)
    serialized = tf.raw_ops.DatasetToGraphV2(input_dataset=ds._variant_tensor).numpy()
    assert b"EagerPyFunc" not in serialized and b"PyFunc" not in serialized
    assert b"ParallelMapDataset" in serialized and b"PrefetchDataset" in serialized
