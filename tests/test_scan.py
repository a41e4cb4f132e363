"""`tfdirpipe scan` and `scan_directory` on a small mixed tree."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from tfdirpipe import scan, testing

# A scan traces the header-check graph once per process and instantiates it
# once per pass (seconds on a small machine): the tests share scans.
pytestmark = pytest.mark.timeout(300)


def _gif_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (6, 5), 3).save(buf, "GIF")
    return buf.getvalue()


def _png_bytes(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size[::-1], color).save(buf, "PNG")
    return buf.getvalue()


def _png_with_corrupt_data(png: bytes) -> bytes:
    """Intact signature, IHDR and IEND; the IDAT payload replaced by junk."""
    start = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[start : start + 4])
    junk = bytes(range(7, 7 + length)) if length < 200 else b"\x07" * length
    crc = struct.pack(">I", zlib.crc32(b"IDAT" + junk))
    return png[: start + 8] + junk + crc + png[start + 12 + length :]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """
    mixed/
    ├── cat/   cat_0000..0003.png (24x32), dup.png (= cat_0000.png), png_named.jpg,
    │          anim.gif, notes.txt, .DS_Store
    ├── dog/   dog_0000..0002.jpg (300x20), nested/deep.png (= cat_0000.png),
    │          broken.png (truncated), empty.jpg, gone.jpg -> nowhere, gone.txt -> nowhere
    ├── bird/  (empty)
    ├── .cache/x.png, __MACOSX/cat/._x.png
    └── readme.txt
    """
    root = str(tmp_path_factory.mktemp("mixed"))
    testing.make_image_tree(root, classes=("cat",), per_class=4, size=(24, 32), fmt="png")
    testing.make_image_tree(root, classes=("dog",), per_class=3, size=(300, 20), fmt="jpeg")
    os.makedirs(os.path.join(root, "bird"))
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    original = open(j("cat", "cat_0000.png"), "rb").read()
    other_png = open(j("cat", "cat_0001.png"), "rb").read()
    files = {
        ("cat", "dup.png"): original,
        ("cat", "png_named.jpg"): _png_bytes((24, 32), (200, 10, 10)),
        ("cat", "anim.gif"): _gif_bytes(),
        ("cat", "notes.txt"): b"not an image",
        ("cat", ".DS_Store"): b"\0\0\0\1Bud1",
        ("dog", "nested", "deep.png"): original,
        ("dog", "broken.png"): other_png[: len(other_png) // 2],
        ("dog", "empty.jpg"): b"",
        (".cache", "x.png"): original,
        ("__MACOSX", "cat", "._x.png"): b"\0\5\26\7",
        ("readme.txt",): b"hello",
    }
    for parts, data in files.items():
        os.makedirs(os.path.dirname(j(*parts)), exist_ok=True)
        with open(j(*parts), "wb") as f:
            f.write(data)
    os.symlink(j("nowhere.jpg"), j("dog", "gone.jpg"))
    os.symlink(j("nowhere.txt"), j("dog", "gone.txt"))
    return root


@pytest.fixture(scope="module")
def report(mixed):
    return scan.scan_directory(mixed)


def _rel(root, paths):
    return sorted(os.path.relpath(p, root) for p in paths)


def test_class_counts_in_label_order(report):
    # cat: 4 + dup + png_named.jpg; dog: 3 + deep + broken + empty (gone.jpg is not listed)
    assert report.class_counts == {"bird": 0, "cat": 6, "dog": 6}
    assert report.num_files == 12
    assert report.bad_per_class() == {"bird": 0, "cat": 0, "dog": 3}


def test_formats_are_sniffed_from_content(mixed, report):
    # png_named.jpg counts as png; empty.jpg is no known format
    assert report.formats == {"png": 8, "jpeg": 3, "unknown": 1}
    assert report.mismatched == [(os.path.join(mixed, "cat", "png_named.jpg"), "png")]


def test_size_distribution_of_good_files(report):
    s = report.sizes
    assert s.count == 10  # 12 listed, less broken.png and empty.jpg
    assert (s.min_height, s.max_height, s.min_width, s.max_width) == (24, 300, 20, 32)
    assert s.median_height == 24 and s.median_width == 32
    assert s.target_size == (256, 256)
    assert s.larger_than_target == 3  # the 300-pixel-tall JPEGs


def test_bad_files_with_reasons(mixed, report):
    reasons = {os.path.relpath(s.path, mixed): s.reason for s in report.bad}
    assert set(reasons) == {"dog/broken.png", "dog/empty.jpg", "dog/gone.jpg"}
    assert reasons["dog/broken.png"] == "truncated PNG (no complete IEND chunk)"
    assert reasons["dog/empty.jpg"].startswith("not an image")
    assert reasons["dog/gone.jpg"] == "dangling symlink"
    assert not report.ok and report.exit_code == 1


def test_duplicates_by_content(mixed, report):
    assert len(report.duplicates) == 1
    group = report.duplicates[0]
    assert _rel(mixed, group.paths) == ["cat/cat_0000.png", "cat/dup.png", "dog/nested/deep.png"]
    with open(group.paths[0], "rb") as f:
        assert group.sha1 == hashlib.sha1(f.read()).hexdigest()


def test_ignored_entries_and_other_extensions(mixed, report):
    ignored = {os.path.relpath(s.path, mixed): s.reason for s in report.ignored}
    assert ignored == {
        ".cache": "hidden or system folder",
        "__MACOSX": "hidden or system folder",
        "cat/.DS_Store": "hidden or system entry",
        "readme.txt": "outside any class folder",
        "dog/gone.txt": "dangling symlink",
    }
    assert report.other_extensions == {".gif": 1, ".txt": 1}


def test_to_dict_is_json_and_text_names_everything(mixed, report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["files"] == 12
    assert data["classes"]["dog"] == {"files": 6, "bad": 3}
    assert {b["reason"] for b in data["bad"]} >= {"dangling symlink"}
    text = report.format_text()
    for needle in ("dog/broken.png: truncated PNG", "cat/dup.png", "readme.txt: outside any class folder",
                   ".gif 1", "Formats (by content): png 8, jpeg 3, unknown 1", "3 taller or wider"):
        assert needle in text, needle


def test_extensions_all_and_max_pixels(mixed):
    r = scan.scan_directory(mixed, extensions="all", max_pixels=1000)
    assert r.class_counts["cat"] == 7 and r.formats["gif"] == 1  # anim.gif is listed now
    assert r.other_extensions == {".txt": 1}
    too_large = {os.path.relpath(s.path, mixed): s.reason for s in r.bad if "too large" in s.reason}
    assert too_large == {
        f"dog/dog_000{i}.jpg": "image too large: 20 x 300 pixels > max_pixels=1000" for i in range(3)
    }


def test_decode_catches_corrupt_data_in_an_intact_file(tmp_path):
    testing.make_image_tree(tmp_path, classes=("a",), per_class=2, size=(8, 8), fmt="png")
    bad = tmp_path / "a" / "corrupt.png"
    bad.write_bytes(_png_with_corrupt_data((tmp_path / "a" / "a_0000.png").read_bytes()))
    assert scan.scan_directory(tmp_path).ok  # the header and trailer are fine
    full = scan.scan_directory(tmp_path, decode=True)
    assert [s.path for s in full.bad] == [str(bad)]
    assert full.bad[0].reason and "\n" not in full.bad[0].reason


def test_main_exit_codes_and_text(mixed, tmp_path, capsys):
    testing.make_image_tree(tmp_path / "clean", classes=("a", "b"), per_class=2, size=(8, 8))
    assert scan.main([str(tmp_path / "clean"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "4 files in 2 classes" in out and "No bad files." in out

    assert scan.main([mixed, "--target-size", "16x16"]) == 1
    out = capsys.readouterr().out
    assert "10 taller or wider than the target 16x16" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "the following arguments are required: DIR"),
        (["/no/such/dir"], "Directory not found"),
        (["--extensions", "png", "."], "invalid choice: 'png'"),
        (["--target-size", "big", "."], "expected HxW"),
        (["--max-pixels", "-1", "."], "expected an int >= 0"),
    ],
)
def test_main_usage_errors_exit_2(argv, message, capsys):
    assert scan.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"extensions": "png"}, ValueError, "Received: extensions='png'"),
        ({"extensions": 3}, TypeError, "Received: extensions=3"),
        ({"max_pixels": -1}, ValueError, "Received: max_pixels=-1"),
        ({"decode": "yes"}, TypeError, "Received: decode='yes'"),
        ({"target_size": (0, 3)}, ValueError, "Received: target_size=(0, 3)"),
    ],
)
def test_scan_directory_validates_arguments(mixed, kwargs, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        scan.scan_directory(mixed, **kwargs)


def test_missing_directory_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="Received: directory="):
        scan.scan_directory(tmp_path / "missing")


def test_cli_json_in_a_subprocess(mixed):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [sys.executable, "-m", "tfdirpipe.scan", mixed, "--json"],
        capture_output=True, text=True, env=env, timeout=280,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    data = json.loads(out.stdout)  # stdout holds the JSON object and nothing else
    assert data["files"] == 12 and data["ok"] is False
    assert data["formats"] == {"png": 8, "jpeg": 3, "unknown": 1}
    assert len(data["duplicates"]) == 1 and len(data["duplicates"][0]["paths"]) == 3
    assert data["other_extensions"] == {".gif": 1, ".txt": 1}
    assert "\r" not in out.stderr  # not a TTY: no progress bar
