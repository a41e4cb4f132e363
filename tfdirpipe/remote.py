"""Listing ``scheme://`` directories through ``tf.io.gfile``, in Keras's order.

`tfdirpipe.listing` walks local trees with ``os.scandir`` and no TensorFlow;
this module gives the same `FileIndex` for any filesystem TensorFlow can
read: ``gs://`` (built in), ``s3://`` / ``hdfs://`` (with tensorflow-io or a
TensorFlow build that registers them), ``file://`` and ``ram://``. Images
are then read with ``tf.io.read_file`` on the same URLs, inside the graph,
so a remote directory works for the in-process iterator and for tf.data
service workers alike.

```
gs://bucket/train/
├── cat/  001.jpg  more/002.png
└── dog/  003.jpg
```

Order: classes sorted (or the order of ``classes=``); inside a class,
directories in sorted order of their full path and files sorted by name in
each, which is the legacy ``flow_from_directory`` order, with the same
per-class validation split and the same hidden-entry rules as `listing`.

Differences from local listing, both forced by object stores: there are no
symbolic links (``follow_links`` has no effect), and an entry whose name
ends with an image extension is taken to be a file without asking the
store (one request per directory instead of one per file).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tfdirpipe import _validate
from tfdirpipe import listing
from tfdirpipe.listing import FileIndex, Skipped

__all__ = ["is_remote", "list_directory", "list_flat", "walk_files"]


def is_remote(path: str) -> bool:
    """True for ``scheme://`` paths, which are listed and read through ``tf.io.gfile``."""
    return _validate.is_remote(path)


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def _listdir(directory: str) -> list[str]:
    try:
        return tf.io.gfile.listdir(directory)
    except tf.errors.NotFoundError as err:
        raise FileNotFoundError(
            f"Directory not found: `directory` does not exist. Received: directory={directory!r}"
        ) from err


def _split_entries(directory: str, names: Sequence[str], image_exts: tuple[str, ...]):
    """``(subdirectories, files)`` of one listing, asking the store only when unsure."""
    subdirs, files = [], []
    for name in names:
        if name.endswith("/"):  # object stores mark prefixes ("folders") this way
            subdirs.append(name.rstrip("/"))
        elif name.lower().endswith(image_exts):
            files.append(name)
        elif tf.io.gfile.isdir(_join(directory, name)):
            subdirs.append(name)
        else:
            files.append(name)
    return subdirs, files


def find_classes(directory: str, ignored: list[Skipped] | None = None) -> list[str]:
    """Sorted names of the class subfolders of ``directory``."""
    if not tf.io.gfile.isdir(directory):
        if tf.io.gfile.exists(directory):
            raise NotADirectoryError(
                f"`directory` is not a directory. Received: directory={directory!r}"
            )
        raise FileNotFoundError(
            f"Directory not found: `directory` does not exist. Received: directory={directory!r}"
        )
    subdirs, _ = _split_entries(directory, _listdir(directory), ())
    names = []
    for name in subdirs:
        if listing.is_ignored_name(name):
            if ignored is not None:
                ignored.append(Skipped(_join(directory, name), "hidden or system folder"))
            continue
        names.append(name)
    return sorted(names)


def walk_files(
    directory: str,
    extensions: Sequence[str],
    ignored: list[Skipped] | None = None,
) -> list[str]:
    """Image files under ``directory`` in Keras's order, as full URLs.

    Directories are visited in sorted order of their full path, files
    sorted by name inside each; extensions match case-insensitively.
    """
    lowered = tuple(e.lower() for e in extensions)  # as `listing` and Keras match them
    roots: list[tuple[str, list[str]]] = []
    stack = [directory.rstrip("/")]
    while stack:
        root = stack.pop()
        try:
            names = tf.io.gfile.listdir(root)
        except tf.errors.OpError:
            continue
        subdirs, files = _split_entries(root, names, lowered)
        kept = []
        for name in files:
            if listing.is_ignored_name(name):
                if ignored is not None:
                    ignored.append(Skipped(_join(root, name), "hidden or system entry"))
            elif name.lower().endswith(lowered):
                kept.append(name)
        for name in subdirs:
            if listing.is_ignored_name(name):
                if ignored is not None:
                    ignored.append(Skipped(_join(root, name), "hidden or system entry"))
            else:
                stack.append(_join(root, name))
        roots.append((root, sorted(kept)))
    roots.sort(key=lambda item: item[0])
    return [_join(root, name) for root, files in roots for name in files]


def list_directory(
    directory: str,
    classes: Sequence[str] | None = None,
    extensions: Sequence[str] = listing.LEGACY_FORMATS,
    follow_links: bool = False,
    split: tuple[float, float] | None = None,
) -> FileIndex:
    """Lists a remote class-per-folder tree exactly as `listing.list_directory` does.

    Args:
        directory: ``scheme://...`` root of the tree.
        classes: Class subfolder names in label order; ``None`` lists the
            sorted subfolders.
        extensions: Extensions to list (case-insensitive, with or without
            the dot).
        follow_links: Accepted for the same signature; object stores have
            no links.
        split: ``(start, stop)`` fractions of each class's files to keep
            (Keras's per-class validation split).

    Returns:
        A `FileIndex` whose ``filepaths`` are full URLs and ``filenames``
        are ``"class/.../name"`` relative paths.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        NotADirectoryError: it is a file.
    """
    del follow_links
    directory = directory.rstrip("/")
    ignored: list[Skipped] = []
    class_names = list(classes) if classes else find_classes(directory, ignored)
    filenames: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        class_dir = _join(directory, name)
        files = walk_files(class_dir, extensions, ignored)
        if split is not None:
            n = len(files)
            files = files[int(split[0] * n) : int(split[1] * n)]
        for path in files:
            filenames.append(name + "/" + path[len(class_dir) + 1 :])
            labels.append(label)
    filepaths = [_join(directory, f) for f in filenames]
    return FileIndex(directory, filenames, filepaths, labels, class_names, ignored, [])


def list_flat(
    directory: str,
    extensions: Sequence[str] = listing.DATASET_FORMATS,
    follow_links: bool = False,
) -> FileIndex:
    """Lists every image under a remote ``directory`` as one unlabeled group."""
    del follow_links
    directory = directory.rstrip("/")
    if not tf.io.gfile.isdir(directory):
        raise FileNotFoundError(
            f"Directory not found: `directory` does not exist. Received: directory={directory!r}"
        )
    ignored: list[Skipped] = []
    paths = walk_files(directory, extensions, ignored)
    filenames = [p[len(directory) + 1 :] for p in paths]
    return FileIndex(directory, filenames, paths, [0] * len(paths), [], ignored, [])
