"""`to_numpy`, `class_counts`, `class_weight`: arrays equal to what iteration gives.

The trees' pixels encode ``(class, index)`` (`tfdirpipe.testing`), so every
row's label and position is checked after shuffling and subsetting. Starting
a decoding pipeline costs seconds, so iterators and reference results are
shared per module and the subset logic is tested without decoding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

import tfdirpipe
from tfdirpipe import materialize, testing
from tfdirpipe.materialize import class_counts, class_weight, to_numpy

CLASSES = ("bird", "cat", "dog")
PER_CLASS = (7, 5, 6)
N = sum(PER_CLASS)
SIZE = (8, 8)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Flat-colour PNGs whose pixels encode (class index, image index)."""
    root = tmp_path_factory.mktemp("mat_indexed")
    testing.make_image_tree(root, classes=CLASSES, per_class=PER_CLASS, size=(12, 10), fmt="png")
    return str(root)


def _flow(directory, gen_kwargs=None, **kwargs):
    kwargs.setdefault("target_size", SIZE)
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("shuffle", False)
    gen = tfdirpipe.ImageDataGenerator(**(gen_kwargs if gen_kwargs is not None else {"rescale": 1 / 255}))
    return gen.flow_from_directory(directory, verbose=False, **kwargs)


@pytest.fixture(scope="module")
def it_cat(tree):
    """Categorical, shuffled with a seed; never iterated past epoch 0 here."""
    return _flow(tree, shuffle=True, seed=7)


@pytest.fixture(scope="module")
def cat_arrays(it_cat):
    return to_numpy(it_cat, verbose=0)


@pytest.fixture(scope="module")
def ref_files(it_cat, tmp_path_factory):
    """An uninterrupted run to files: the byte-for-byte reference."""
    path = tmp_path_factory.mktemp("mat_ref")
    to_numpy(it_cat, path, verbose=0)
    return path


def _iterate(ds):
    """One pass of the tf.data dataset, concatenated per output."""
    batches = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds]
    if isinstance(batches[0], tuple):
        return tuple(np.concatenate([b[i] for b in batches]) for i in range(len(batches[0])))
    return np.concatenate(batches)


def _pairs(x, rescale=1 / 255):
    return testing.decode_indices(x, fmt="png", rescale=rescale)


def _sample_pairs(it, indices):
    """(class, index in class) of samples, read from their file names."""
    stems = [os.path.splitext(os.path.basename(it.filepaths[i]))[0] for i in indices]
    parts = [s.rsplit("_", 1) for s in stems]  # "dog_0003": the tree's class, the index
    return np.array([[CLASSES.index(name), int(k)] for name, k in parts]).reshape(-1, 2)


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# Same arrays as iterating
# --------------------------------------------------------------------------


def test_categorical_equals_iteration(it_cat, cat_arrays):
    x, y = cat_arrays
    assert it_cat.epoch == 0  # to_numpy leaves the iterator alone
    ex, ey = _iterate(it_cat)  # claims epoch 0, the one to_numpy read
    assert x.dtype == ex.dtype == np.float32 and x.shape == (N, *SIZE, 3)
    assert y.dtype == ey.dtype and y.shape == (N, 3)
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(_pairs(x), _sample_pairs(it_cat, it_cat.index_array))
    assert not np.array_equal(it_cat.index_array, np.arange(N))


@pytest.mark.parametrize(
    "class_mode, shuffle, to_files",
    [("binary", False, True), ("sparse", True, False), (None, True, True)],
)
def test_class_modes_equal_iteration(tree, tmp_path, class_mode, shuffle, to_files):
    classes = ["bird", "dog"] if class_mode == "binary" else None
    it = _flow(tree, class_mode=class_mode, classes=classes, shuffle=shuffle, seed=3)
    out = to_numpy(it, tmp_path if to_files else None, verbose=0)
    expected = _iterate(it)
    if class_mode is None:
        assert isinstance(out, np.ndarray)  # x alone
        np.testing.assert_array_equal(out, expected)
        x = out
    else:
        for a, b in zip(out, expected):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        x = out[0]
    np.testing.assert_array_equal(_pairs(x), _sample_pairs(it, it.index_array))
    if to_files:
        assert isinstance(x, np.memmap)
        wanted = {"x.npy", "indices.npy"} | ({"y.npy"} if class_mode else set())
        assert {f for f in os.listdir(tmp_path) if f.endswith(".npy")} == wanted
    if class_mode == "sparse":  # a later epoch: its own order
        it.on_epoch_end()
        x2, y2 = to_numpy(it, verbose=0)
        np.testing.assert_array_equal(_pairs(x2), _sample_pairs(it, it.index_array))
        np.testing.assert_array_equal(y2, it.classes[it.index_array])
        assert not np.array_equal(x2, x)


def test_input_mode_returns_x_once(tree, cat_arrays):
    it = _flow(tree, class_mode="input", shuffle=True, seed=7)  # it_cat's order
    x = to_numpy(it, verbose=0)
    assert isinstance(x, np.ndarray)  # the targets would be x again
    np.testing.assert_array_equal(x, cat_arrays[0])


# --------------------------------------------------------------------------
# Augmentation, and resuming augmented output after an exception
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def it_aug(tmp_path_factory):
    root = tmp_path_factory.mktemp("mat_smooth")
    testing.make_image_tree(
        root, classes=CLASSES, per_class=6, size=(14, 12), fmt="png", encode_index=False, seed=3
    )
    gen = {"rescale": 1 / 255, "rotation_range": 40, "width_shift_range": 0.2}
    return _flow(str(root), gen, shuffle=True, seed=9)


@pytest.fixture(scope="module")
def aug_ref(it_aug, tmp_path_factory):
    path = tmp_path_factory.mktemp("mat_aug_ref")
    to_numpy(it_aug, path, augment=True, verbose=0)
    return path


def test_augment_uses_the_epoch_draws(it_aug, aug_ref):
    x_aug = np.load(aug_ref / "x.npy")
    np.testing.assert_array_equal(x_aug, _iterate(it_aug)[0])  # the epoch's own draws
    x_plain, _ = to_numpy(it_aug, verbose=0)
    assert not np.allclose(x_aug, x_plain)


class _Stop(Exception):
    pass


def _interrupt_after(monkeypatch, batches):
    """Makes the progress update raise after `batches` completed batches."""
    calls = {"n": 0}
    real = materialize._Progress.update

    def update(self, rows):
        calls["n"] += 1
        if calls["n"] == batches:
            raise _Stop
        real(self, rows)

    monkeypatch.setattr(materialize._Progress, "update", update)
    monkeypatch.setattr(materialize, "_CHECKPOINT_SECONDS", 1e9)  # only the exception saves


def test_resume_after_exception_is_byte_identical(it_aug, aug_ref, tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(_Stop):
            to_numpy(it_aug, tmp_path, augment=True, verbose=0)
    meta = json.loads((tmp_path / "to_numpy.json").read_text())
    assert meta["state"] == "writing" and meta["rows"] == 8  # 2 batches of 4
    assert not (tmp_path / "x.npy").exists() and (tmp_path / "x.npy.partial").exists()

    rows = []
    real = materialize._Progress.update
    monkeypatch.setattr(materialize._Progress, "update", lambda self, n: rows.append(n) or real(self, n))
    to_numpy(it_aug, tmp_path, augment=True, verbose=0)
    assert sum(rows) == it_aug.n - 8  # only the rest was decoded
    for name in ("x.npy", "y.npy", "indices.npy"):
        assert _bytes(tmp_path / name) == _bytes(aug_ref / name)
    assert sorted(os.listdir(tmp_path)) == ["indices.npy", "to_numpy.json", "x.npy", "y.npy"]


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import tfdirpipe
    from tfdirpipe import materialize
    materialize._CHECKPOINT_SECONDS = 0.0
    real = materialize._Progress.update
    def slow(self, rows):
        real(self, rows)
        time.sleep(1.0)
    materialize._Progress.update = slow
    it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        sys.argv[1], target_size=(8, 8), batch_size=4, shuffle=True, seed=7, verbose=False)
    materialize.to_numpy(it, sys.argv[2], verbose=0)
    """
)


@pytest.mark.slow
def test_resume_after_kill_is_byte_identical(tree, it_cat, ref_files, tmp_path, capsys):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, tree, str(out)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    rows, deadline = 0, time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None and rows < 4:
            try:
                rows = json.loads((out / "to_numpy.json").read_text()).get("rows", 0)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    assert 4 <= rows < N, err.decode()[-3000:]
    assert not (out / "x.npy").exists()

    to_numpy(it_cat, out, verbose=2)
    assert f"Resuming: {rows} rows already in" in capsys.readouterr().out
    for name in ("x.npy", "y.npy", "indices.npy"):
        assert _bytes(out / name) == _bytes(ref_files / name)


# --------------------------------------------------------------------------
# dtype
# --------------------------------------------------------------------------


def test_dtypes(tree, it_cat, cat_arrays, capfd):
    x, y = cat_arrays
    x16, y16 = to_numpy(it_cat, dtype="float16", verbose=0)
    assert capfd.readouterr() == ("", "")  # verbose=0: silent
    assert x16.dtype == np.float16 and y16.dtype == np.float32
    np.testing.assert_array_equal(x16, x.astype(np.float16))
    # uint8: raw pixels; rescale (1/255 here) skipped.
    xu, yu = to_numpy(it_cat, dtype="uint8", verbose=0)
    assert xu.dtype == np.uint8
    np.testing.assert_array_equal(xu, np.rint(x * 255).astype(np.uint8))
    np.testing.assert_array_equal(yu, y)
    # Standardization skipped too; data_format kept.
    gen = {"rescale": 1 / 255, "samplewise_center": True, "data_format": "channels_first"}
    cf = _flow(tree, gen, class_mode="sparse", shuffle=True, seed=7)
    xc, yc = to_numpy(cf, dtype="uint8", verbose=0)
    assert xc.shape == (N, 3, *SIZE) and yc.dtype == np.float32
    np.testing.assert_array_equal(xc, xu.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(yc, y.argmax(-1))


# --------------------------------------------------------------------------
# Subsets
# --------------------------------------------------------------------------


def test_limit_and_indices(it_cat, cat_arrays, capfd):
    x, y = to_numpy(it_cat, limit=5, verbose=1)
    assert "5/5" in capfd.readouterr().err  # the progress bar
    np.testing.assert_array_equal(x, cat_arrays[0][:5])
    np.testing.assert_array_equal(y, cat_arrays[1][:5])
    picks = [5, 0, 5, 17]  # any order, repeats allowed
    x, y = to_numpy(it_cat, indices=picks, verbose=0)
    np.testing.assert_array_equal(_pairs(x), _sample_pairs(it_cat, picks))
    np.testing.assert_array_equal(y.argmax(-1), it_cat.classes[picks])
    for kwargs in ({"indices": []}, {"limit": 0}):
        x, y = to_numpy(it_cat, verbose=0, **kwargs)
        assert x.shape == (0, *SIZE, 3) and y.shape == (0, 3)


def _labels_of(it, selection):
    return np.bincount(it.classes[selection], minlength=3).tolist()


def test_per_class_counts(it_cat):
    order = it_cat.index_array
    pick = materialize._stratified
    assert _labels_of(it_cat, pick(it_cat, order, 3, None)) == [3, 3, 3]
    assert _labels_of(it_cat, pick(it_cat, order, 0.5, None)) == [4, 3, 3]  # 3.5, 2.5, 3 rounded half up
    assert _labels_of(it_cat, pick(it_cat, order, 0.01, None)) == [1, 1, 1]  # at least one
    assert _labels_of(it_cat, pick(it_cat, order, 1.0, 5)) == list(PER_CLASS)
    with pytest.warns(UserWarning, match=r"fewer samples and are taken whole: \{'cat': 5\}"):
        assert _labels_of(it_cat, pick(it_cat, order, 6, None)) == [6, 5, 6]


def test_per_class_order_and_seed(it_cat):
    order = it_cat.index_array
    pick = materialize._stratified
    # Without a seed: each class's first samples, in the epoch order.
    first = pick(it_cat, order, 2, None)
    seen: dict[int, int] = {}
    expected = []
    for i in order:
        c = int(it_cat.classes[i])
        if seen.get(c, 0) < 2:
            expected.append(int(i))
            seen[c] = seen.get(c, 0) + 1
    assert first.tolist() == expected
    # With a seed: reproducible, seed-dependent, and the same set whatever the order.
    a = pick(it_cat, order, 2, 11)
    np.testing.assert_array_equal(a, pick(it_cat, order, 2, 11))
    assert any(not np.array_equal(a, pick(it_cat, order, 2, s)) for s in (12, 13, 14))
    rank = {int(i): r for r, i in enumerate(order)}
    assert [rank[int(i)] for i in a] == sorted(rank[int(i)] for i in a)  # epoch order kept
    other_order = np.random.default_rng(0).permutation(N)
    assert sorted(pick(it_cat, other_order, 2, 11).tolist()) == sorted(a.tolist())


def test_per_class_end_to_end(it_cat):
    x, y = to_numpy(it_cat, per_class=2, seed=11, verbose=0)
    selection = materialize._stratified(it_cat, it_cat.index_array, 2, 11)
    np.testing.assert_array_equal(_pairs(x), _sample_pairs(it_cat, selection))
    np.testing.assert_array_equal(y.argmax(-1), it_cat.classes[selection])
    assert y.sum(0).tolist() == [2, 2, 2]


# --------------------------------------------------------------------------
# Memory-mapped files
# --------------------------------------------------------------------------


def test_files_reload_identically(it_cat, cat_arrays, ref_files):
    x, y = to_numpy(it_cat, ref_files, verbose=0)  # finished: loaded, not recomputed
    assert isinstance(x, np.memmap) and isinstance(y, np.memmap) and not x.flags.writeable
    np.testing.assert_array_equal(x, cat_arrays[0])
    np.testing.assert_array_equal(y, cat_arrays[1])
    assert sorted(os.listdir(ref_files)) == ["indices.npy", "to_numpy.json", "x.npy", "y.npy"]
    np.testing.assert_array_equal(np.load(ref_files / "x.npy"), cat_arrays[0])
    np.testing.assert_array_equal(np.load(ref_files / "indices.npy"), it_cat.index_array)
    meta = json.loads((ref_files / "to_numpy.json").read_text())
    assert meta["state"] == "done" and meta["rows"] == N
    assert meta["class_indices"] == it_cat.class_indices


def test_finished_files_reused_and_conflicts_refused(it_cat, ref_files, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise AssertionError("should not read the images again")

    monkeypatch.setattr(materialize._NpyWriter, "write", fail)
    to_numpy(it_cat, ref_files, verbose=2)
    assert "Reusing the arrays already written to" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match=r"another to_numpy request .* Received: path="):
        to_numpy(it_cat, ref_files, limit=3, verbose=0)


def test_foreign_npy_refused(it_cat, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(FileExistsError, match="not written by to_numpy"):
        to_numpy(it_cat, tmp_path, verbose=0)


def test_empty_selection_to_files(it_cat, tmp_path):
    x, y = to_numpy(it_cat, tmp_path, indices=[], verbose=0)
    assert x.shape == (0, *SIZE, 3) and y.shape == (0, 3)


def test_npy_header_reserve_reads_back(tmp_path):
    """The reserved header is a valid .npy header for any row count."""
    for rows in (0, 7, 10**12):
        header = materialize._npy_header(np.dtype("<f4"), (rows, 2, 3), 128)
        assert len(header) == 128
        path = tmp_path / "h.npy"
        path.write_bytes(header)
        with open(path, "rb") as f:
            assert np.lib.format.read_magic(f) == (1, 0)
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        assert shape == (rows, 2, 3) and not fortran and dtype == np.float32


# --------------------------------------------------------------------------
# Plain tf.data datasets and flow()
# --------------------------------------------------------------------------


def test_image_dataset_from_directory(tree):
    ds = tfdirpipe.image_dataset_from_directory(
        tree, image_size=SIZE, batch_size=5, shuffle=False, verbose=False
    )
    x, y = to_numpy(ds, verbose=0)
    ex, ey = _iterate(ds)
    assert x.shape == (N, *SIZE, 3) and y.dtype == np.int32
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    assert ds.class_names == list(CLASSES)


def _synthetic(n=23, seed=None):
    x = np.arange(n * 2 * 2 * 3, dtype=np.float32).reshape(n, 2, 2, 3) / 7
    y = np.arange(n, dtype=np.int64) % 4
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if seed is not None:
        ds = ds.shuffle(n, seed=seed)
    return ds.batch(5), x, y


def test_plain_dataset_shapes_sizes_dtypes(tmp_path):
    ds, x, y = _synthetic()
    unknown = ds.filter(lambda a, b: True)
    assert int(unknown.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    xf, yf = to_numpy(unknown, tmp_path, verbose=0)  # size unknown: the files grow
    np.testing.assert_array_equal(xf, x)
    np.testing.assert_array_equal(yf, y)
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".npy")) == ["x.npy", "y.npy"]
    xm, ym = to_numpy(unknown, verbose=0)  # in memory: grows, then trimmed
    np.testing.assert_array_equal(xm, x)
    assert xm.shape[0] == len(x)
    xl, yl = to_numpy(ds, limit=7, verbose=0)
    np.testing.assert_array_equal(xl, x[:7])
    np.testing.assert_array_equal(yl, y[:7])
    xb, _ = to_numpy(ds.unbatch(), batch_size=4, verbose=0)  # single images
    np.testing.assert_array_equal(xb, x)
    xu, _ = to_numpy(ds, dtype="uint8", verbose=0)  # rounded and clipped
    np.testing.assert_array_equal(xu, np.clip(np.rint(x), 0, 255).astype(np.uint8))
    images = to_numpy(ds.map(lambda a, b: a), verbose=0)  # no labels: x alone
    assert isinstance(images, np.ndarray)
    np.testing.assert_array_equal(images, x)
    assert to_numpy(ds.repeat(), limit=30, verbose=0)[0].shape == (30, 2, 2, 3)
    assert class_counts(ds) == {0: 6, 1: 6, 2: 6, 3: 5}


def test_plain_dataset_resume_rereads_and_checks(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(_Stop):
            to_numpy(_synthetic(seed=1)[0], tmp_path, verbose=0)
    assert json.loads((tmp_path / "to_numpy.json").read_text())["rows"] == 15
    # Same fingerprint, another order (a dataset cannot seek, so its first
    # rows are read again): found different, and rewritten.
    x, y = to_numpy(_synthetic(seed=2)[0], tmp_path, verbose=0)
    ex, ey = _iterate(_synthetic(seed=2)[0])  # a fresh object: its first pass
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    # The same order: rows already on disk are checked, not rewritten.
    other = tmp_path / "same"
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(_Stop):
            to_numpy(_synthetic(seed=3)[0], other, verbose=0)
    writes = []
    real = materialize._NpyWriter.write
    monkeypatch.setattr(materialize._NpyWriter, "write", lambda self, r, b: writes.append(r) or real(self, r, b))
    x, _ = to_numpy(_synthetic(seed=3)[0], other, verbose=0)
    np.testing.assert_array_equal(x, _iterate(_synthetic(seed=3)[0])[0])
    assert min(writes) == 15


def test_flow_iterator(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (10, 4, 4, 3)).astype(np.float32)
    y = np.arange(10) % 3
    sw = np.linspace(0.5, 1.5, 10)
    it = tfdirpipe.ImageDataGenerator().flow(x, y, sample_weight=sw, batch_size=4, shuffle=False)
    out = to_numpy(it, tmp_path, verbose=0)
    assert len(out) == 3
    np.testing.assert_array_equal(out[0], x)
    np.testing.assert_array_equal(out[1], y)
    np.testing.assert_array_equal(out[2], sw)
    assert {"x.npy", "y.npy", "sample_weight.npy"} <= set(os.listdir(tmp_path))
    assert class_counts(it) == {0: 4, 1: 3, 2: 3}
    with pytest.raises(ValueError, match=r"needs a DirectoryIterator .* Received: dtype='uint8'"):
        to_numpy(it, dtype="uint8")


# --------------------------------------------------------------------------
# Class statistics
# --------------------------------------------------------------------------


def test_class_counts_and_weight(it_cat):
    assert class_counts(it_cat) == dict(zip(CLASSES, PER_CLASS))
    weights = class_weight(it_cat)
    assert list(weights) == [0, 1, 2]
    np.testing.assert_allclose([weights[i] for i in range(3)], [N / (3 * c) for c in PER_CLASS])
    # Balanced: every class carries the same total weight; samples average 1.
    np.testing.assert_allclose(sum(weights[int(c)] for c in it_cat.classes), N)


def test_class_weight_with_an_empty_class(tmp_path):
    root = tmp_path / "tree"
    testing.make_image_tree(root, classes=("a", "b"), per_class=(3, 1), size=6)
    (root / "c").mkdir()
    it = _flow(str(root))
    assert class_counts(it) == {"a": 3, "b": 1, "c": 0}
    with pytest.warns(UserWarning, match=r"classes without samples get weight 0.0: \['c'\]"):
        weights = class_weight(it)
    assert weights == {0: 4 / (2 * 3), 1: 4 / (2 * 1), 2: 0.0}


def test_class_statistics_need_labels():
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2, 2, 3), np.float32)).batch(2)
    with pytest.raises(ValueError, match="yields images only"):
        class_counts(ds)
    it = tfdirpipe.ImageDataGenerator().flow(np.zeros((4, 2, 2, 3)), batch_size=2)
    with pytest.raises(ValueError, match="this iterator has none"):
        class_weight(it)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"dtype": "int32"}, ValueError, "`dtype` must be None (the iterator's dtype), a float dtype such as 'float32' or 'float16', or 'uint8' (raw pixels). Received: dtype='int32'"),
        ({"dtype": "bogus"}, TypeError, "Received: dtype='bogus'"),
        ({"limit": -1}, ValueError, "`limit` must be None or an int >= 0. Received: limit=-1"),
        ({"limit": 2.0}, TypeError, "Received: limit=2.0"),
        ({"per_class": 0}, ValueError, "Received: per_class=0"),
        ({"per_class": 1.5}, ValueError, "or a float in (0, 1] (fraction of each class). Received: per_class=1.5"),
        ({"per_class": "3"}, TypeError, "Received: per_class='3'"),
        ({"indices": [0, 99]}, ValueError, f"`indices` must lie in [0, {N}) (the iterator's samples). Received: indices with min=0 and max=99"),
        ({"indices": [[0]]}, TypeError, "`indices` must be a 1-D sequence of ints (sample indices). Received: indices=[[0]]"),
        ({"indices": [1], "limit": 1}, ValueError, "Pass either `indices=` or `limit=` / `per_class=`, not both"),
        ({"seed": 1}, ValueError, "`seed` only draws the `per_class` subset; pass `per_class=` too, or leave `seed=None` (the order is the iterator's own). Received: seed=1"),
        ({"dtype": "uint8", "augment": True}, ValueError, "pass `augment=False`, or a float `dtype` to get augmented images. Received: augment=True"),
        ({"verbose": 3}, ValueError, "`verbose` must be one of 0, 1, 2 (silent, progress bar, notices only). Received: verbose=3"),
        ({"batch_size": 0}, ValueError, "Received: batch_size=0"),
        ({"augment": "yes"}, TypeError, "Received: augment='yes'"),
    ],
)
def test_argument_errors(it_cat, tmp_path, kwargs, error, message):
    target = tmp_path / "never"
    with pytest.raises(error) as info:
        to_numpy(it_cat, target, **kwargs)
    assert message in str(info.value)
    assert not target.exists()  # checked before any I/O


def test_source_errors(it_cat, tmp_path):
    with pytest.raises(TypeError, match=r"must be a tfdirpipe iterator .* Received: it=ndarray"):
        to_numpy(np.zeros((2, 4, 4, 3)))
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="Received: path="):
        to_numpy(it_cat, tmp_path / "file")
    with pytest.raises(ValueError, match="must be a local directory"):
        to_numpy(it_cat, "gs://bucket/arrays")
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"`per_class` needs a tfdirpipe iterator .* Received: per_class=2$"):
        to_numpy(ds, per_class=2)
    with pytest.raises(ValueError, match=r"`augment=True` applies an iterator's .* Received: augment=True"):
        to_numpy(ds, augment=True)
    with pytest.raises(ValueError, match=r"infinite dataset .* Received: limit=None"):
        to_numpy(ds.repeat())
    with pytest.raises(ValueError, match=r"image batches \[B, H, W, C\] or images \[H, W, C\]"):
        to_numpy(tf.data.Dataset.range(3))

