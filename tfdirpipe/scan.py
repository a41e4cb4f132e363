"""``tfdirpipe scan DIR``: check an image directory before training.

One parallel tf.data pass reads every file that ``flow_from_directory``
would list and, without decoding, sniffs its format from the bytes, reads
the size from the header, runs the same checks as the loader (empty,
unknown format, truncated, decompression bomb, unsupported) and takes a
64-bit fingerprint of the bytes. Files whose fingerprint and size collide
are then confirmed as duplicates with SHA-1 (measured on 4,000 small JPEGs:
the in-graph fingerprint costs about as much as reading the bytes, far less
than handing every file's bytes back to Python to hash, and the header checks
dominate the pass either way). ``--decode`` also fully decodes
every file that passes the cheap checks (slower; catches corrupt data inside
an intact container).

```
directory/
├── cat/            class folders, as flow_from_directory lists them
│   ├── 001.jpg
│   └── more/002.png
├── dog/
│   └── 003.jpg
├── notes.txt       outside any class folder: ignored
└── .DS_Store       hidden/system entry: ignored
```

Command line (exit code 0 when clean, 1 when a file cannot be loaded, 2 for
usage errors)::

    tfdirpipe scan data/train                 # human-readable report
    tfdirpipe scan data/train --json          # one JSON object on stdout
    python -m tfdirpipe.scan data/train --decode --target-size 224x224

From Python::

    report = tfdirpipe.scan.scan_directory("data/train")
    print(report.format_text())
    report.bad  # [Skipped(path, reason), ...]
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from tfdirpipe import _validate
from tfdirpipe import listing
from tfdirpipe.listing import Skipped

__all__ = ["DuplicateGroup", "ScanReport", "SizeStats", "main", "scan_directory"]

# `--extensions` presets, in the order they are listed in messages.
EXTENSION_SETS: dict[str, tuple[str, ...]] = {
    "keras": listing.LEGACY_FORMATS,
    "all": listing.ALL_FORMATS,
}
DEFAULT_TARGET_SIZE = (256, 256)  # flow_from_directory's default

_BATCH = 256  # files per element handed back to Python
_FINGERPRINT_BUCKETS = 2**63 - 1  # to_hash_bucket_fast: the full Fingerprint64
_UNREADABLE = "unreadable"


@dataclasses.dataclass(frozen=True)
class SizeStats:
    """Image sizes (from the headers) of the files that passed the checks.

    Attributes:
        count: Files measured.
        min_height, median_height, max_height: Heights in pixels.
        min_width, median_width, max_width: Widths in pixels.
        target_size: The ``(height, width)`` compared against.
        larger_than_target: Files taller or wider than ``target_size``
            (they are downscaled on load).
    """

    count: int
    min_height: int
    median_height: float
    max_height: int
    min_width: int
    median_width: float
    max_width: int
    target_size: tuple[int, int]
    larger_than_target: int


@dataclasses.dataclass(frozen=True)
class DuplicateGroup:
    """Files with identical bytes (``paths`` in listing order)."""

    sha1: str
    paths: tuple[str, ...]


@dataclasses.dataclass
class ScanReport:
    """What `scan_directory` found.

    Paths are ``os.path.join(directory, relative_path)``, like
    ``DirectoryIterator.filepaths`` and ``.skipped``.

    Attributes:
        directory: The directory scanned.
        extensions: The extensions listed as samples.
        follow_links: Whether symlinked folders were followed.
        max_pixels: The decompression-bomb limit (``None``: none).
        decoded: Whether every file was fully decoded (``--decode``).
        class_counts: Files listed per class (good and bad), in label order.
        formats: Listed files per format sniffed from their bytes
            (``"unknown"`` when no format matches, ``"unreadable"`` when the
            file could not be read).
        mismatched: ``(path, format)`` of files whose extension names
            another format than their content (they still load: tfdirpipe
            decodes by content).
        sizes: Size distribution of the good files (``None`` if there are none).
        bad: Files that cannot be loaded, with the reason, in listing order:
            what ``flow_from_directory(on_error="raise")`` refuses and
            ``on_error="skip"`` leaves out.
        duplicates: Groups of files with identical bytes.
        ignored: Entries that are not samples, with the reason: hidden and
            system entries, files outside class folders, dangling symlinks
            whose name has no listed extension.
        other_extensions: Files in class folders left out because their
            extension is not listed, counted per lower-case extension.
        seconds: Wall time of the scan.
    """

    directory: str
    extensions: tuple[str, ...]
    follow_links: bool
    max_pixels: int | None
    decoded: bool
    class_counts: dict[str, int]
    formats: dict[str, int]
    mismatched: list[tuple[str, str]]
    sizes: SizeStats | None
    bad: list[Skipped]
    duplicates: list[DuplicateGroup]
    ignored: list[Skipped]
    other_extensions: dict[str, int]
    seconds: float

    @property
    def num_files(self) -> int:
        """Files listed as samples (good and bad)."""
        return sum(self.class_counts.values())

    @property
    def ok(self) -> bool:
        """True when every listed file can be loaded."""
        return not self.bad

    @property
    def exit_code(self) -> int:
        """The command's exit code: 0 when clean, 1 when bad files were found."""
        return 0 if self.ok else 1

    def bad_per_class(self) -> dict[str, int]:
        """Bad files per class, for every class."""
        counts = dict.fromkeys(self.class_counts, 0)
        for item in self.bad:
            name = self._relative(item.path).split(os.sep, 1)[0]
            if name in counts:
                counts[name] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (what ``--json`` prints)."""
        bad_counts = self.bad_per_class()
        return {
            "directory": self.directory,
            "ok": self.ok,
            "files": self.num_files,
            "seconds": round(self.seconds, 3),
            "files_per_second": round(self.num_files / self.seconds, 1) if self.seconds else None,
            "options": {
                "extensions": list(self.extensions),
                "follow_links": self.follow_links,
                "max_pixels": self.max_pixels,
                "decode": self.decoded,
            },
            "classes": {
                name: {"files": count, "bad": bad_counts[name]}
                for name, count in self.class_counts.items()
            },
            "formats": dict(self.formats),
            "mismatched_extensions": [{"path": p, "format": f} for p, f in self.mismatched],
            "sizes": None if self.sizes is None else {
                **dataclasses.asdict(self.sizes), "target_size": list(self.sizes.target_size)
            },
            "bad": [{"path": s.path, "reason": s.reason} for s in self.bad],
            "duplicates": [{"sha1": g.sha1, "paths": list(g.paths)} for g in self.duplicates],
            "ignored": [{"path": s.path, "reason": s.reason} for s in self.ignored],
            "other_extensions": dict(self.other_extensions),
        }

    def format_text(self, limit: int = 20) -> str:
        """The human-readable report (what the command prints by default).

        Args:
            limit: Most entries shown per list (bad files, duplicates,
                ignored entries); the rest are counted.
        """
        rel = self._relative
        rate = f", {self.num_files / self.seconds:,.0f} files/s" if self.seconds else ""
        lines = [
            f"Scanned {self.directory}: {self.num_files} files in "
            f"{len(self.class_counts)} classes ({self.seconds:.1f} s{rate})"
            + (", fully decoded" if self.decoded else "")
        ]
        bad_counts = self.bad_per_class()
        width = max((len(n) for n in self.class_counts), default=0)
        for name, count in self.class_counts.items():
            extra = f"  ({bad_counts[name]} bad)" if bad_counts[name] else ""
            lines.append(f"  {name:<{width}}  {count:>7}{extra}")

        if self.formats:
            shown = ", ".join(f"{fmt} {n}" for fmt, n in self.formats.items())
            lines.append(f"Formats (by content): {shown}")
        if self.mismatched:
            lines.append(
                f"  {len(self.mismatched)} files have an extension that does not match "
                "their content (they load by content):"
            )
            lines += _shown([f"{rel(p)} is {f}" for p, f in self.mismatched], limit)

        s = self.sizes
        if s is not None:
            lines.append(
                f"Sizes of {s.count} good files (height x width): min {s.min_height}x{s.min_width}, "
                f"median {s.median_height:g}x{s.median_width:g}, max {s.max_height}x{s.max_width}"
            )
            th, tw = s.target_size
            lines.append(f"  {s.larger_than_target} taller or wider than the target {th}x{tw}")

        if self.duplicates:
            files = sum(len(g.paths) for g in self.duplicates)
            lines.append(
                f"Duplicates: {len(self.duplicates)} groups of identical files ({files} files)"
            )
            lines += _shown(
                [f"{g.sha1[:12]}: " + ", ".join(rel(p) for p in g.paths) for g in self.duplicates],
                limit,
            )

        if self.ignored or self.other_extensions:
            lines.append(f"Ignored (not samples): {len(self.ignored)} entries")
            lines += _shown([f"{rel(s.path)}: {s.reason}" for s in self.ignored], limit)
            if self.other_extensions:
                shown = ", ".join(f"{ext} {n}" for ext, n in self.other_extensions.items())
                lines.append(f"  extensions not listed ({', '.join(self.extensions)}): {shown}")

        if self.bad:
            lines.append(f"Bad files: {len(self.bad)} cannot be loaded")
            lines += _shown([f"{rel(s.path)}: {s.reason}" for s in self.bad], limit)
            lines.append(
                "Fix or remove them, or pass on_error='skip' to flow_from_directory to "
                "leave them out."
            )
        else:
            lines.append("No bad files.")
        return "\n".join(lines) + "\n"

    def _relative(self, path: str) -> str:
        try:
            return os.path.relpath(path, self.directory)
        except ValueError:  # another drive on Windows
            return path


def _shown(items: list[str], limit: int) -> list[str]:
    out = [f"  {item}" for item in items[:limit]]
    if len(items) > limit:
        out.append(f"  ... and {len(items) - limit} more")
    return out


# --------------------------------------------------------------------------
# scan_directory
# --------------------------------------------------------------------------


def scan_directory(
    directory: str | os.PathLike,
    *,
    extensions: str | Sequence[str] = "keras",
    follow_links: bool = False,
    max_pixels: int | None = None,
    decode: bool = False,
    target_size: tuple[int, int] = DEFAULT_TARGET_SIZE,
    progress: bool = False,
) -> ScanReport:
    """Checks a class-per-folder image directory without loading it for training.

    ```
    directory/
    ├── cat/  001.jpg 002.png ...
    └── dog/  003.jpg ...
    ```

    Lists the tree exactly as ``flow_from_directory`` does, then reads every
    listed file once in a parallel tf.data pass.

    Args:
        directory: Root of the tree (local path).
        extensions: ``"keras"`` (the legacy generator's white list),
            ``"all"`` (every extension tfdirpipe decodes) or a sequence of
            extensions.
        follow_links: Whether to descend into symlinked subfolders.
        max_pixels: Refuse images whose header declares more pixels;
            ``None`` means the loader's default
            (``tfdirpipe.decode.MAX_IMAGE_PIXELS``), ``0`` no limit.
        decode: Also fully decode every file that passes the header checks.
        target_size: ``(height, width)`` for the "larger than target" count.
        progress: Show a tqdm progress bar on stderr (when tqdm is
            installed) for scans that take more than a second.

    Returns:
        A `ScanReport`.

    Raises:
        FileNotFoundError: ``directory`` does not exist.
        NotADirectoryError: ``directory`` is a file.
        ValueError, TypeError: for a bad argument value or type.
    """
    directory, exts, max_pixels, target_size = _validate_scan_args(
        directory, extensions, follow_links, max_pixels, decode, target_size, progress
    )
    start = time.perf_counter()

    # Every file (extension "" matches all), split as the real listing would.
    index = listing.list_directory(directory, extensions=("",), follow_links=follow_links)
    lowered = tuple(e.lower() for e in exts)
    paths = []
    class_counts = dict.fromkeys(index.class_names, 0)
    other: collections.Counter[str] = collections.Counter()
    for name, path, label in zip(index.filenames, index.filepaths, index.labels):
        if name.lower().endswith(lowered):
            paths.append(path)
            class_counts[index.class_names[label]] += 1
        else:
            other[_extension(name)] += 1

    bad_links = [s for s in index.dangling if os.path.basename(s.path).lower().endswith(lowered)]
    ignored = list(index.ignored) + _top_level_files(directory)
    ignored += [s for s in index.dangling if s not in bad_links]

    results = _inspect_files(paths, max_pixels, decode, progress)
    summary = _summarize(paths, results, target_size)
    bad = summary.pop("bad") + bad_links
    return ScanReport(
        directory=directory,
        extensions=exts,
        follow_links=follow_links,
        max_pixels=max_pixels,
        decoded=decode,
        class_counts=class_counts,
        bad=bad,
        ignored=ignored,
        other_extensions=dict(sorted(other.items(), key=lambda kv: (-kv[1], kv[0]))),
        seconds=time.perf_counter() - start,
        **summary,
    )


def _validate_scan_args(directory, extensions, follow_links, max_pixels, decode, target_size,
                        progress):
    """Checks every argument of `scan_directory` before any I/O."""
    if isinstance(extensions, str):
        _validate.one_of("extensions", extensions, tuple(EXTENSION_SETS))
        exts = EXTENSION_SETS[extensions]
    elif isinstance(extensions, Sequence) and extensions and all(
        isinstance(e, str) and e.strip(".") for e in extensions
    ):
        exts = tuple(e.lower().lstrip(".") for e in extensions)
    else:
        raise TypeError(
            "`extensions` must be 'keras', 'all' or a non-empty list of extensions. "
            + _validate.received("extensions", extensions)
        )
    _validate.boolean("follow_links", follow_links)
    _validate.boolean("decode", decode)
    _validate.boolean("progress", progress)
    if max_pixels is not None:
        message = "`max_pixels` must be None or an int >= 0. " + _validate.received(
            "max_pixels", max_pixels
        )
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int):
            raise TypeError(message)
        if max_pixels < 0:
            raise ValueError(message)
    target_size = _validate.size_pair("target_size", target_size)
    path = _local_directory("directory", directory)

    from tfdirpipe import decode as decode_lib  # imports TensorFlow: after the checks

    if max_pixels is None:
        max_pixels = decode_lib.MAX_IMAGE_PIXELS
    return path, exts, (max_pixels or None), target_size


def _local_directory(name: str, value: Any) -> str:
    path = _validate.directory(name, value)
    if _validate.is_remote(path):
        raise ValueError(
            f"`{name}` must be a local directory: scan lists it with os.scandir. "
            + _validate.received(name, path)
        )
    return path


def _extension(filename: str) -> str:
    return os.path.splitext(filename)[1].lower() or "(none)"


def _top_level_files(directory: str) -> list[Skipped]:
    """Files directly under ``directory``: never samples of flow_from_directory."""
    out = []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                continue  # class folders, or hidden folders already reported by the listing
            reason = (
                "hidden or system entry" if listing.is_ignored_name(entry.name)
                else "outside any class folder"
            )
            out.append(Skipped(entry.path, reason))
    return out


# --------------------------------------------------------------------------
# The parallel pass
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _FileResult:
    code: int = 0  # index into decode.FORMATS (0: unknown)
    height: int = 0
    width: int = 0
    reason: str = ""  # empty when the file is good
    nbytes: int = -1  # -1: unreadable
    fingerprint: int = 0


@functools.lru_cache(maxsize=None)
def _inspector(max_pixels: int | None, full: bool):
    """Per-file function: bytes -> (format code, height, width, ok, reason, size, fingerprint).

    A ``tf.function`` with a fixed signature, cached per options, so the
    (large) header-parsing graph is traced once per process, not once per scan.
    """
    import tensorflow as tf

    from tfdirpipe import decode as decode_lib

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)], autograph=False)
    def inspect(contents):
        code, height, width = decode_lib.image_info(contents)
        ok, reason = decode_lib.check_image(contents, max_pixels)
        if full:
            def decoded():
                image = decode_lib.decode_image(contents, "rgb", max_pixels=max_pixels)
                with tf.control_dependencies([tf.shape(image)]):
                    return tf.constant(True), tf.constant("")

            ok, reason = tf.cond(ok, decoded, lambda: (ok, reason))
        nbytes = tf.cast(tf.strings.length(contents), tf.int64)
        fingerprint = tf.strings.to_hash_bucket_fast(contents, _FINGERPRINT_BUCKETS)
        return code, height, width, ok, reason, nbytes, fingerprint

    return inspect


def _inspect_files(
    paths: list[str], max_pixels: int | None, full: bool, progress: bool
) -> list[_FileResult]:
    """Runs `_inspect` on every file in one parallel tf.data pass."""
    if not paths:
        return []
    import tensorflow as tf

    inspect = _inspector(max_pixels, full)
    paths_t = tf.constant(paths)
    ds = tf.data.Dataset.range(len(paths)).map(
        lambda i: (i, *inspect(tf.io.read_file(tf.gather(paths_t, i)))),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    # A file whose read or decode raises drops out here; it is diagnosed below.
    ds = ds.ignore_errors().batch(_BATCH).prefetch(tf.data.AUTOTUNE)
    results: list[_FileResult | None] = [None] * len(paths)
    with _progress_bar(len(paths), progress) as bar:
        for idx, code, height, width, ok, reason, nbytes, fp in ds.as_numpy_iterator():
            for k, i in enumerate(idx.tolist()):
                results[i] = _FileResult(
                    int(code[k]), int(height[k]), int(width[k]),
                    "" if ok[k] else reason[k].decode("utf-8", "replace") or "cannot be loaded",
                    int(nbytes[k]), int(fp[k]),
                )
            bar.update(len(idx))
    for i, result in enumerate(results):
        if result is None:
            results[i] = _diagnose(paths[i], max_pixels, full)
    return results  # type: ignore[return-value]


def _diagnose(path: str, max_pixels: int | None, full: bool) -> _FileResult:
    """Runs the checks eagerly on a file whose graph raised, to get the reason."""
    import tensorflow as tf

    from tfdirpipe import preflight

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        return _FileResult(reason=f"cannot read file: {err.strerror or err}")
    contents = tf.constant(data)
    try:
        code, height, width, ok, reason, nbytes, fp = _inspector(max_pixels, False)(contents)
    except tf.errors.OpError as err:
        return _FileResult(reason=preflight._short(err.message), nbytes=len(data))
    result = _FileResult(
        int(code), int(height), int(width),
        "" if bool(ok) else reason.numpy().decode("utf-8", "replace"), int(nbytes), int(fp),
    )
    if full and not result.reason:
        try:
            _inspector(max_pixels, True)(contents)
        except tf.errors.OpError as err:
            result.reason = preflight._short(err.message)
    return result


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n: int) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            enabled = False
        else:
            return tqdm(total=total, unit="file", file=sys.stderr, delay=1.0, dynamic_ncols=True)
    return _NoBar()


def _summarize(paths: list[str], results: list[_FileResult], target_size) -> dict[str, Any]:
    """Formats, mismatches, sizes, bad files and duplicates from the per-file results."""
    import numpy as np

    from tfdirpipe import decode as decode_lib

    names = tuple(decode_lib.FORMATS)
    formats: collections.Counter[str] = collections.Counter()
    mismatched = []
    bad = []
    good_sizes = []
    for path, r in zip(paths, results):
        if r.nbytes < 0:
            fmt = _UNREADABLE
        else:
            fmt = names[r.code] if 0 <= r.code < len(names) else names[decode_lib.UNKNOWN]
        formats[fmt] += 1
        expected = _EXTENSION_FORMATS.get(_extension(path))
        if expected is not None and r.code > decode_lib.UNKNOWN and fmt != expected:
            mismatched.append((path, fmt))
        if r.reason:
            bad.append(Skipped(path, r.reason))
        else:
            good_sizes.append((r.height, r.width))

    sizes = None
    if good_sizes:
        hw = np.asarray(good_sizes, dtype=np.int64)
        th, tw = target_size
        sizes = SizeStats(
            count=len(hw),
            min_height=int(hw[:, 0].min()),
            median_height=float(np.median(hw[:, 0])),
            max_height=int(hw[:, 0].max()),
            min_width=int(hw[:, 1].min()),
            median_width=float(np.median(hw[:, 1])),
            max_width=int(hw[:, 1].max()),
            target_size=(th, tw),
            larger_than_target=int(((hw[:, 0] > th) | (hw[:, 1] > tw)).sum()),
        )
    return {
        "formats": dict(formats.most_common()),
        "mismatched": mismatched,
        "sizes": sizes,
        "bad": bad,
        "duplicates": _duplicates(paths, results),
    }


# Extension -> the format name its content should sniff as (decode.FORMATS names).
_EXTENSION_FORMATS = {
    ".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".png": "png", ".bmp": "bmp",
    ".gif": "gif", ".webp": "webp", ".ppm": "pnm", ".pgm": "pnm", ".pbm": "pnm",
    ".pnm": "pnm", ".tif": "tiff", ".tiff": "tiff",
}


def _duplicates(paths: list[str], results: list[_FileResult]) -> list[DuplicateGroup]:
    """Groups of identical files: same size and fingerprint, confirmed by SHA-1."""
    candidates = collections.defaultdict(list)
    for i, r in enumerate(results):
        if r.nbytes >= 0:
            candidates[(r.nbytes, r.fingerprint)].append(i)
    todo = [i for group in candidates.values() if len(group) > 1 for i in group]
    if not todo:
        return []
    workers = min(16, (os.cpu_count() or 1) * 2)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        digests = dict(zip(todo, pool.map(lambda i: _sha1(paths[i]), todo)))
    groups = collections.defaultdict(list)
    for i in sorted(todo):
        if digests[i] is not None:
            groups[digests[i]].append(paths[i])
    found = [DuplicateGroup(d, tuple(p)) for d, p in groups.items() if len(p) > 1]
    return sorted(found, key=lambda g: g.paths[0])


def _sha1(path: str) -> str | None:
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def _size_arg(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 224x224, got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return h, w


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfdirpipe scan",
        description=(
            "Check an image directory before training: per-class counts, formats (by "
            "content), sizes, bad files with the reason, duplicates and ignored entries. "
            "Exit code: 0 clean, 1 bad files found, 2 usage error."
        ),
    )
    parser.add_argument("directory", metavar="DIR", help="class-per-folder image directory")
    parser.add_argument(
        "--extensions", choices=tuple(EXTENSION_SETS), default="keras",
        help="files to list: keras = flow_from_directory's white list "
        f"({', '.join(listing.LEGACY_FORMATS)}); all = every format tfdirpipe decodes "
        f"({', '.join(listing.ALL_FORMATS)}). Default: keras",
    )
    parser.add_argument("--follow-links", action="store_true", help="descend into symlinked folders")
    parser.add_argument(
        "--max-pixels", type=_nonnegative_int, default=None, metavar="N",
        help="refuse images declaring more pixels (default: the loader's limit; 0: no limit)",
    )
    parser.add_argument(
        "--decode", action="store_true",
        help="also fully decode every file (slower; catches corrupt data in intact files)",
    )
    parser.add_argument(
        "--target-size", type=_size_arg, default=DEFAULT_TARGET_SIZE, metavar="HxW",
        help="count images larger than this (default: 256x256)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``tfdirpipe scan``; returns the exit code (0 clean, 1 bad files, 2 usage error)."""
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help exits 0, a usage error 2
        return exc.code if isinstance(exc.code, int) else 2
    try:
        _local_directory("DIR", args.directory)  # the only argument argparse cannot check
    except (OSError, ValueError) as err:
        sys.stderr.write(f"{parser.prog}: error: {err}\n")
        return 2
    report = scan_directory(
        args.directory,
        extensions=args.extensions,
        follow_links=args.follow_links,
        max_pixels=args.max_pixels,
        decode=args.decode,
        target_size=args.target_size,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.format_text())
    sys.stdout.flush()
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
