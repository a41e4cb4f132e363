"""Directory listing against the real Keras legacy DirectoryIterator.

Keras's DirectoryIterator lists files in its constructor without decoding
them, so the files here are empty placeholders: only names matter.
"""

from __future__ import annotations

import os

import pytest

from tfdirpipe import listing


def _touch(root, *relpaths):
    for rel in relpaths:
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"x")


@pytest.fixture
def tree(tmp_path):
    root = str(tmp_path / "data")
    _touch(
        root,
        "cat/b.jpg", "cat/a.PNG", "cat/c.txt", "cat/z.JPEG",
        "cat/sub/x.jpg", "cat/sub/w.bmp", "cat/sub b/y.jpg", "cat/sub_2/q.ppm",
        "cat/sub/deeper/k.tif",
        "dog/1.jpg", "dog/10.jpg", "dog/2.jpg", "dog/3.gif", "dog/4.webp",
        "bird/only.tiff",
        "empty_class/readme.md",
    )
    return root


def _keras_listing(keras_legacy, root, **kwargs):
    it = keras_legacy().flow_from_directory(root, **kwargs)
    return it


@pytest.mark.parametrize("classes", [None, ["dog", "cat"], ["bird", "missing", "cat"]])
def test_order_and_labels_match_keras(keras_legacy, tree, classes, capsys):
    kit = _keras_listing(keras_legacy, tree, classes=classes)
    index = listing.list_directory(tree, classes=classes)
    assert index.filenames == kit.filenames
    assert index.filepaths == kit.filepaths
    assert index.labels == list(kit.classes)
    assert {n: i for i, n in enumerate(index.class_names)} == kit.class_indices


@pytest.mark.parametrize("subset", ["training", "validation"])
@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.34])
def test_per_class_split_matches_keras(keras_legacy, tree, subset, fraction):
    kit = keras_legacy(validation_split=fraction).flow_from_directory(tree, subset=subset)
    split = (0.0, fraction) if subset == "validation" else (fraction, 1.0)
    index = listing.list_directory(tree, split=split)
    assert index.filenames == kit.filenames
    assert index.labels == list(kit.classes)


def test_split_partitions_each_class(tree):
    train = listing.list_directory(tree, split=(0.3, 1.0))
    val = listing.list_directory(tree, split=(0.0, 0.3))
    full = listing.list_directory(tree)
    assert sorted(train.filenames + val.filenames) == sorted(full.filenames)
    assert not set(train.filenames) & set(val.filenames)


def test_hidden_and_system_entries_are_ignored_and_counted(tmp_path):
    root = str(tmp_path / "d")
    _touch(
        root,
        "cat/a.jpg", "cat/._a.jpg", "cat/.hidden.png", "cat/Thumbs.db",
        "cat/.ipynb_checkpoints/a-checkpoint.jpg", "__MACOSX/cat/._a.jpg",
        ".ipynb_checkpoints/x.jpg", "dog/b.png",
    )
    index = listing.list_directory(root)
    assert index.class_names == ["cat", "dog"]
    assert index.filenames == [os.path.join("cat", "a.jpg"), os.path.join("dog", "b.png")]
    ignored = sorted(os.path.relpath(s.path, root) for s in index.ignored)
    assert ignored == sorted([
        ".ipynb_checkpoints", "__MACOSX", os.path.join("cat", "._a.jpg"),
        os.path.join("cat", ".hidden.png"), os.path.join("cat", "Thumbs.db"),
        os.path.join("cat", ".ipynb_checkpoints"),
    ])
    (notice,) = index.notices()
    assert notice.startswith("Ignored 6 hidden or system entries")


def test_no_notice_when_nothing_ignored(tree):
    assert listing.list_directory(tree).notices() == []


def test_awkward_names(keras_legacy, tmp_path):
    root = str(tmp_path / "d")
    names = ["[x]*?.jpg", "{a,b}.png", "with space.jpg", "ünïcødé 画像.png", "-dash.jpg"]
    _touch(root, *(os.path.join("c[1]", n) for n in names))
    index = listing.list_directory(root)
    kit = keras_legacy().flow_from_directory(root)
    assert index.filenames == kit.filenames
    assert len(index) == len(names)


def test_non_utf8_file_name(tmp_path):
    root = os.path.join(os.fsencode(str(tmp_path)), b"d")
    os.makedirs(os.path.join(root, b"cls"))
    with open(os.path.join(root, b"cls", b"bad\xff.jpg"), "wb") as f:
        f.write(b"x")
    index = listing.list_directory(os.fsdecode(root))
    assert len(index) == 1
    assert os.path.exists(index.filepaths[0])


def test_symlink_cycle_terminates_without_duplicates(tmp_path):
    root = str(tmp_path / "d")
    _touch(root, "cat/a.jpg", "cat/sub/b.jpg")
    os.symlink(os.path.join(root, "cat"), os.path.join(root, "cat", "sub", "loop"))
    os.symlink(os.path.join(root, "cat", "sub"), os.path.join(root, "cat", "alias"))
    index = listing.list_directory(root, follow_links=True)
    assert sorted(index.filenames) == sorted(
        [os.path.join("cat", "a.jpg"), os.path.join("cat", "alias", "b.jpg")]
    )
    assert listing.list_directory(root, follow_links=False).filenames == [
        os.path.join("cat", "a.jpg"), os.path.join("cat", "sub", "b.jpg"),
    ]


def test_follow_links_matches_keras_without_cycles(keras_legacy, tmp_path):
    root = str(tmp_path / "d")
    other = str(tmp_path / "elsewhere")
    _touch(root, "cat/a.jpg")
    _touch(other, "x.jpg", "y/z.png")
    os.symlink(other, os.path.join(root, "cat", "linked"))
    for follow in (False, True):
        kit = keras_legacy().flow_from_directory(root, follow_links=follow)
        assert listing.list_directory(root, follow_links=follow).filenames == kit.filenames


def test_dangling_symlink_is_reported_not_listed(tmp_path):
    root = str(tmp_path / "d")
    _touch(root, "cat/a.jpg")
    os.symlink(str(tmp_path / "nowhere.jpg"), os.path.join(root, "cat", "gone.jpg"))
    index = listing.list_directory(root)
    assert index.filenames == [os.path.join("cat", "a.jpg")]
    assert [os.path.basename(s.path) for s in index.dangling] == ["gone.jpg"]
    assert any("dangling" in line for line in index.notices())


def test_missing_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        listing.list_directory(str(tmp_path / "nope"))


def test_flat_listing_matches_keras_index_directory(tree):
    from keras.src.utils import dataset_utils

    paths, _, _ = dataset_utils.index_directory(
        tree, labels=None, formats=listing.DATASET_FORMATS, shuffle=False
    )
    assert listing.list_flat(tree).filepaths == paths


def test_listing_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, importlib.util, os;"
        "spec = importlib.util.spec_from_file_location('listing', %r);"
        "m = importlib.util.module_from_spec(spec); sys.modules['listing'] = m;"
        "spec.loader.exec_module(m);"
        "print('tensorflow' in sys.modules)" % listing.__file__
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
