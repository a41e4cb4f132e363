"""flow_from_dataframe against the real Keras legacy DataFrameIterator (the oracle)."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfdirpipe
from tfdirpipe import testing

pd = pytest.importorskip("pandas")

CLASSES = ("cat", "dog", "bird")
PER_CLASS = (4, 3, 3)
RANK = {name: i for i, name in enumerate(sorted(CLASSES))}  # the tree's encoded class


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Flat-colour PNGs whose pixels encode (class rank, index): 10 files."""
    root = tmp_path_factory.mktemp("df_tree")
    paths = testing.make_image_tree(root, classes=CLASSES, per_class=PER_CLASS, size=(6, 5))
    return str(root), paths


@pytest.fixture(scope="module")
def frame(tree):
    """A dataframe over the tree, rows interleaved, with every kind of target column.

    ``row`` is the row number, so a decoded image can be paired with its row.
    """
    root, paths = tree
    rng = np.random.default_rng(0)
    order = rng.permutation(len(paths))
    names = [os.path.relpath(paths[i], root) for i in order]
    classes = [n.split(os.sep)[0] for n in names]
    tags = [
        c if k % 3 else [c, CLASSES[(CLASSES.index(c) + 1) % 3]] for k, c in enumerate(classes)
    ]
    return pd.DataFrame({
        "filename": names,
        "class": classes,
        "tags": pd.Series(tags, dtype=object),
        "row": np.arange(len(names), dtype="int64"),
        "score": np.linspace(-1.0, 1.0, len(names)),
        "weight": np.linspace(0.5, 2.0, len(names)).astype("float32"),
        "box": pd.Series([[float(k), 2.0 * k] for k in range(len(names))], dtype=object),
    })


def _pair(keras_legacy, df, directory, gen_kwargs=None, **kwargs):
    gen_kwargs = gen_kwargs or {}
    kit = keras_legacy(**gen_kwargs).flow_from_dataframe(df, directory, **kwargs)
    ours = tfdirpipe.ImageDataGenerator(**gen_kwargs).flow_from_dataframe(
        df, directory, verbose=False, **kwargs
    )
    return ours, kit


def _assert_same(ours, theirs):
    """Same structure (tuple / list), dtypes, shapes and values."""
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same(a, b)
        return
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (
        ours.dtype, theirs.dtype, ours.shape, theirs.shape,
    )
    np.testing.assert_array_equal(ours, theirs)


def _assert_epoch_matches_keras(ours, kit):
    """One epoch through ``next()`` (one tf.data pass: cheaper than ``it[i]`` each)."""
    assert len(ours) == len(kit)
    for _ in range(len(kit)):
        _assert_same(next(ours), next(kit))


MODES = {
    "categorical": {"class_mode": "categorical"},
    "multi_label": {"class_mode": "categorical", "y_col": "tags"},
    "binary": {"class_mode": "binary", "classes": ["dog", "cat"]},
    "sparse": {"class_mode": "sparse"},
    "raw": {"class_mode": "raw", "y_col": "score"},
    "raw_columns": {"class_mode": "raw", "y_col": ["row", "score"]},
    "multi_output": {"class_mode": "multi_output", "y_col": ["score", "box", "row"]},
    "categorical_weighted": {"class_mode": "categorical", "weight_col": "weight"},
    "multi_output_weighted": {
        "class_mode": "multi_output", "y_col": ["box", "row"], "weight_col": "weight",
    },
    "input_weighted": {"class_mode": "input", "weight_col": "weight"},
    "none_weighted": {"class_mode": None, "weight_col": "weight"},
}


@pytest.mark.parametrize("case", list(MODES))
def test_outputs_and_attributes_match_keras(keras_legacy, tree, frame, case):
    ours, kit = _pair(
        keras_legacy, frame, tree[0], target_size=(4, 3), shuffle=False, batch_size=4,
        **MODES[case],
    )
    _assert_epoch_matches_keras(ours, kit)
    assert ours.samples == ours.n == kit.samples
    assert ours.filenames == kit.filenames and ours.filepaths == kit.filepaths
    assert ours.image_shape == kit.image_shape and ours.directory == kit.directory
    if hasattr(kit, "classes"):
        assert ours.classes == kit.classes and ours.class_indices == kit.class_indices
    if ours.class_mode in ("raw", "multi_output"):
        _assert_same(ours.labels, kit.labels)  # raw array, or one array per column
    elif hasattr(kit, "classes"):
        assert ours.labels == kit.labels
    if kit.sample_weight is None:
        assert ours.sample_weight is None
    else:
        _assert_same(ours.sample_weight, kit.sample_weight)


def test_dataset_batches_equal_numpy_batches(tree, frame):
    it = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
        frame, tree[0], y_col=["box", "row"], class_mode="multi_output", weight_col="weight",
        target_size=(4, 3), batch_size=4, shuffle=False, verbose=False,
    )
    spec = it.element_spec
    assert isinstance(spec, tuple) and len(spec) == 3 and isinstance(spec[1], tuple)
    for batch in it:
        x, (box, row), w = tf.nest.map_structure(lambda t: t.numpy(), batch)
        kx, (kbox, krow), kw = next(it)  # the next() pass: same order (shuffle=False)
        np.testing.assert_array_equal(x, kx)
        np.testing.assert_array_equal(box, kbox)
        np.testing.assert_array_equal(row, krow)
        np.testing.assert_array_equal(w, kw)


def test_channels_first_and_dtype_match_keras(keras_legacy, tree, frame):
    gen = {"data_format": "channels_first", "dtype": "float16", "rescale": 1 / 255}
    ours, kit = _pair(
        keras_legacy, frame, tree[0], gen_kwargs=gen, target_size=(5, 4), color_mode="rgba",
        shuffle=False, batch_size=6, y_col="tags",
    )
    assert ours.image_shape == kit.image_shape == (4, 5, 4)
    x, y = ours[0]
    assert x.dtype == y.dtype == np.float16
    _assert_epoch_matches_keras(ours, kit)


def test_classes_argument_sets_order_and_filters(keras_legacy, tree, frame):
    ours, kit = _pair(
        keras_legacy, frame, tree[0], classes=["dog", "cat"], y_col="tags",
        target_size=(3, 3), shuffle=False, batch_size=5,
    )
    assert ours.class_indices == {"dog": 0, "cat": 1} == kit.class_indices
    # bird rows go; a ["bird", "cat"] row keeps only "cat"
    kept = [t for t in frame["tags"] if (set(t) if isinstance(t, list) else {t}) & {"dog", "cat"}]
    assert ours.samples == len(kept) == kit.samples
    _assert_epoch_matches_keras(ours, kit)


def test_found_line_matches_keras(keras_legacy, tree, frame, capsys):
    keras_legacy().flow_from_dataframe(frame, tree[0], target_size=(3, 3))
    keras_out = capsys.readouterr().out
    tfdirpipe.ImageDataGenerator().flow_from_dataframe(frame, tree[0], target_size=(3, 3))
    out = capsys.readouterr().out
    assert out == "Found 10 validated image filenames belonging to 3 classes.\n"
    assert out.strip() in keras_out
    tfdirpipe.ImageDataGenerator().flow_from_dataframe(
        frame, tree[0], y_col="score", class_mode="raw", validate_filenames=False,
        target_size=(3, 3),
    )
    assert capsys.readouterr().out == "Found 10 non-validated image filenames.\n"
    tfdirpipe.ImageDataGenerator().flow_from_dataframe(
        frame, tree[0], target_size=(3, 3), verbose=False
    )
    assert capsys.readouterr().out == ""


def test_validate_filenames_drops_missing_and_unsupported(keras_legacy, tree, frame):
    root = tree[0]
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("not an image")
    extra = pd.DataFrame({
        "filename": ["missing.png", "notes.txt"], "class": ["cat", "dog"], "score": [0.0, 1.0],
    })
    df = pd.concat([extra, frame[["filename", "class", "score"]]], ignore_index=True)
    message = re.escape(
        'Found 2 invalid image filename(s) in x_col="filename". '
        "These filename(s) will be ignored."
    )
    with pytest.warns(UserWarning, match=message):
        kit = keras_legacy().flow_from_dataframe(df, root, target_size=(3, 3), shuffle=False)
    with pytest.warns(UserWarning, match=message):
        ours = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
            df, root, target_size=(3, 3), shuffle=False, verbose=False
        )
    assert ours.filenames == kit.filenames == frame["filename"].tolist()
    _assert_epoch_matches_keras(ours, kit)


def test_unvalidated_missing_file_is_skipped_on_request(tree, frame):
    root = tree[0]
    gone = pd.DataFrame({"filename": ["gone.png"], "class": ["cat"]})
    df = pd.concat([gone, frame[["filename", "class"]][:3]], ignore_index=True)
    with pytest.raises(tfdirpipe.BadImageError, match="gone.png"):
        tfdirpipe.ImageDataGenerator().flow_from_dataframe(
            df, root, validate_filenames=False, preflight=True, verbose=False,
        )
    it = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
        df, root, validate_filenames=False, on_error="skip", target_size=(3, 3),
        shuffle=False, verbose=False,
    )
    assert [s.path for s in it.skipped] == [os.path.join(root, "gone.png")]
    assert it.filenames == frame["filename"].tolist()[:3]
    x, y = it[0]
    assert x.shape == (3, 3, 3, 3) and y.shape == (3, len(set(frame["class"][:3])))


@pytest.mark.parametrize("subset", ["training", "validation"])
def test_subset_split_matches_keras(keras_legacy, tree, frame, subset):
    ours, kit = _pair(
        keras_legacy, frame, tree[0], gen_kwargs={"validation_split": 0.35},
        subset=subset, target_size=(3, 3), shuffle=False, batch_size=3, y_col="score",
        class_mode="raw",
    )
    names = frame["filename"].tolist()  # int(0.35 * 10) = 3 validation rows
    expected = names[:3] if subset == "validation" else names[3:]
    assert ours.filenames == kit.filenames == expected
    _assert_epoch_matches_keras(ours, kit)


def test_subset_needs_validation_split(tree, frame):
    with pytest.raises(ValueError, match=r"pass `ImageDataGenerator\(validation_split=...\)`"):
        tfdirpipe.ImageDataGenerator().flow_from_dataframe(frame, tree[0], subset="training")


def test_directory_none_takes_absolute_paths(keras_legacy, tree, frame):
    root = tree[0]
    df = frame.assign(filename=[os.path.join(root, f) for f in frame["filename"]])
    ours, kit = _pair(
        keras_legacy, df, None, target_size=(4, 4), shuffle=False, batch_size=4,
        class_mode="sparse",
    )
    assert ours.filepaths == df["filename"].tolist() == kit.filepaths
    assert ours.directory == "" == kit.directory
    _assert_epoch_matches_keras(ours, kit)


def test_first_epoch_order_is_keras(keras_legacy, tree, frame):
    ours, kit = _pair(
        keras_legacy, frame, tree[0], target_size=(3, 3), seed=7, batch_size=3,
        y_col="row", class_mode="raw",
    )
    for _ in range(len(kit)):
        _assert_same(next(ours), next(kit))
    assert not np.array_equal(ours.index_array, np.arange(ours.n))


def _rows_of(images, tree, frame):
    """Row numbers of decoded images (the pixels encode class rank and index)."""
    root, paths = tree
    by_pair = {}
    for path in paths:
        name = os.path.relpath(path, root)
        cls = name.split(os.sep)[0]
        index = int(os.path.splitext(name)[0].rsplit("_", 1)[1])
        by_pair[(RANK[cls], index)] = frame.index[frame["filename"] == name][0]
    return [by_pair[tuple(p)] for p in testing.decode_indices(images)]


def test_image_label_pairing_survives_shuffle(tree, frame):
    it = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
        frame, tree[0], target_size=(3, 4), batch_size=4, shuffle=True, seed=3,
        y_col=["row", "score"], class_mode="multi_output", weight_col="weight", verbose=False,
    )
    seen = []
    for _ in range(2):  # two epochs through tf.data: parallel map, different orders
        for x, (row, score), w in it:
            rows = _rows_of(x.numpy(), tree, frame)
            np.testing.assert_array_equal(row.numpy(), rows)
            np.testing.assert_array_equal(score.numpy(), frame["score"].to_numpy()[rows])
            np.testing.assert_array_equal(w.numpy(), frame["weight"].to_numpy()[rows])
            seen += rows
    assert sorted(seen) == sorted(list(range(10)) * 2) and seen[:10] != seen[10:]


def test_model_fit_one_epoch(tree, frame):
    import keras

    it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_dataframe(
        frame, tree[0], target_size=(4, 4), batch_size=4, seed=1, weight_col="weight",
        y_col=["score", "box"], class_mode="multi_output", verbose=False,
    )
    inputs = keras.Input((4, 4, 3))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(1)(flat), keras.layers.Dense(2)(flat)])
    model.compile("sgd", ["mse", "mse"])
    history = model.fit(it, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert it.epoch == 0


def test_save_to_dir_is_passed_through(tree, frame, tmp_path):
    it = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
        frame, tree[0], target_size=(4, 4), batch_size=3, shuffle=False,
        save_to_dir=str(tmp_path), save_prefix="df", verbose=False,
    )
    assert it.save_to_dir == str(tmp_path) and it.save_prefix == "df"
    it[0]
    assert len([f for f in os.listdir(tmp_path) if f.startswith("df_")]) == 3


def test_deprecated_arguments_warn(tree, frame):
    gen = tfdirpipe.ImageDataGenerator()
    with pytest.warns(DeprecationWarning, match="drop_duplicates is deprecated"):
        gen.flow_from_dataframe(
            frame, tree[0], drop_duplicates=True, target_size=(3, 3), verbose=False
        )
    with pytest.warns(DeprecationWarning, match=r'`class_mode="other"` is deprecated'):
        it = gen.flow_from_dataframe(
            frame, tree[0], y_col="score", class_mode="other", target_size=(3, 3),
            shuffle=False, verbose=False,
        )
    assert it.class_mode == "raw"
    np.testing.assert_array_equal(it[0][1], frame["score"].to_numpy())


def test_classes_ignored_warning(tree, frame):
    with pytest.warns(UserWarning, match=r'`classes` will be ignored given the class_mode="raw"'):
        tfdirpipe.ImageDataGenerator().flow_from_dataframe(
            frame, tree[0], y_col="score", class_mode="raw", classes=["cat"], verbose=False,
        )


def test_everything_filtered_gives_empty_iterator(tree):
    df = pd.DataFrame({"filename": ["a.png", "b.png"], "class": ["x", "y"]})
    with pytest.warns(UserWarning, match="Found 2 invalid image filename"):
        it = tfdirpipe.ImageDataGenerator().flow_from_dataframe(
            df, tree[0], target_size=(3, 3), verbose=False
        )
    assert it.samples == 0 and len(it) == 0 and it.class_indices == {}


BAD = [
    ({"class_mode": "bogus"}, ValueError,
     "Invalid class_mode: expected one of 'categorical', 'binary', 'sparse', 'input', "
     "'multi_output', 'raw', None. Received: class_mode='bogus'"),
    ({"class_mode": "multi_output", "y_col": "score"}, TypeError,
     'If class_mode="multi_output", y_col must be a list of column names, one per model '
     "output. Received: y_col='score' (str)"),
    ({"x_col": "path"}, ValueError, "`x_col` must name a column of `dataframe`"),
    ({"x_col": "row"}, TypeError,
     "All values in column x_col=row must be strings (file names or paths). "
     "Received: row=0 at row 0"),
    ({"class_mode": "binary"}, ValueError,
     'If class_mode="binary" there must be 2 classes. Found 3 classes'),
    ({"class_mode": "binary", "classes": ["cat", "dog", "bird"]}, ValueError,
     'If class_mode="binary" there must be 2 classes. 3 class/es were given.'),
    ({"class_mode": "sparse", "y_col": "score"}, TypeError,
     'If class_mode="sparse", y_col="score" column values must be strings.'),
    ({"class_mode": "categorical", "y_col": ["class", "tags"]}, TypeError,
     'If class_mode="categorical", y_col must be one column name'),
    ({"weight_col": "class"}, TypeError, "Column weight_col=class must be numeric."),
    ({"class_mode": "raw", "y_col": "class"}, TypeError,
     'class_mode="raw" needs numeric y_col values'),
    ({"classes": "cat"}, TypeError, "`classes` must be None or a list of class names"),
    ({"batch_size": 0}, ValueError, "`batch_size` must be a positive int. Received: batch_size=0"),
    ({"subset": "test"}, ValueError,
     'Invalid subset name: test; expected "training" or "validation"'),
    ({"validate_filenames": "yes"}, TypeError, "`validate_filenames` must be a bool"),
    ({"on_error": "ignore"}, ValueError, "`on_error` must be one of 'raise', 'skip', 'warn'"),
]


@pytest.mark.parametrize("kwargs,error,message", BAD)
def test_bad_arguments(tree, frame, kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        tfdirpipe.ImageDataGenerator().flow_from_dataframe(frame, tree[0], verbose=False, **kwargs)


def test_bad_dataframe_and_directory(tmp_path, frame):
    gen = tfdirpipe.ImageDataGenerator()
    with pytest.raises(TypeError, match=re.escape("`dataframe` must be a pandas DataFrame")):
        gen.flow_from_dataframe({"filename": ["a.png"]}, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Directory not found"):
        gen.flow_from_dataframe(frame, str(tmp_path / "nope"))


def test_keras_raises_same_types(keras_legacy, tree, frame):
    """Where Keras validates, it raises the same exception type as we do."""
    for kwargs, error, _ in BAD[:2] + BAD[3:9]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(error):
                keras_legacy().flow_from_dataframe(frame, tree[0], **kwargs)


def test_pixels_and_keep_aspect_ratio_match_keras_iterator(tmp_path):
    """Smooth non-square images: bit-exact with Keras's DataFrameIterator class.

    Keras's ``flow_from_dataframe`` drops ``keep_aspect_ratio`` (it is not in
    its signature); its ``DataFrameIterator`` honours it, as we do.
    """
    from keras.src.legacy.preprocessing.image import DataFrameIterator as KerasIterator

    paths = testing.make_image_tree(
        tmp_path, classes=("a", "b"), per_class=3, size=((12, 16), (20, 27)),
        encode_index=False, seed=4,
    )
    classes = [os.path.basename(os.path.dirname(p)) for p in paths]
    df = pd.DataFrame({"filename": paths, "class": classes})
    kwargs = dict(target_size=(7, 5), interpolation="bilinear", keep_aspect_ratio=True,
                  shuffle=False, batch_size=6)
    kit = KerasIterator(df, None, tf.keras.preprocessing.image.ImageDataGenerator(), **kwargs)
    ours = tfdirpipe.ImageDataGenerator().flow_from_dataframe(df, verbose=False, **kwargs)
    _assert_same(next(ours), next(kit))
