"""Tests for `tfdirpipe.testing` (synthetic data) and the benchmark suite."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tfdirpipe.testing import (
    decode_index,
    decode_indices,
    encode_color,
    make_image_tree,
    make_photo_dataset,
    photo_dataset_name,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _sha1(path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------
# make_image_tree
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg", "bmp", "gif", "webp", "tiff", "ppm"])
def test_tree_counts_and_index_round_trip(tmp_path, fmt):
    classes = ("dog", "cat", "bird")  # not sorted: class_index follows sorted()
    per_class = (3, 5, 2)
    paths = make_image_tree(tmp_path, classes, per_class, size=((9, 30), (11, 40)), fmt=fmt, seed=3)

    assert len(paths) == sum(per_class)
    for name, count in zip(classes, per_class):
        assert len(os.listdir(tmp_path / name)) == count
    rank = {name: i for i, name in enumerate(sorted(classes))}
    for path in paths:
        name = Path(path).parent.name
        index = int(Path(path).stem.rsplit("_", 1)[1])
        img = Image.open(path).convert("RGB")
        assert 9 <= img.height <= 30 and 11 <= img.width <= 40
        # Survives resizing to a new shape with nearest and bilinear, and
        # rescaling to [0, 1].
        for resample in (Image.Resampling.NEAREST, Image.Resampling.BILINEAR):
            arr = np.asarray(img.resize((17, 13), resample), dtype=np.float32) / 255
            assert decode_index(arr, fmt=fmt, rescale=1 / 255) == (rank[name], index)


def test_tree_pairs_survive_a_shuffled_tensorflow_batch(tmp_path):
    tf = pytest.importorskip("tensorflow")
    paths = make_image_tree(tmp_path, ("a", "b"), 6, size=(20, 28), fmt="jpeg")
    labels = [0 if Path(p).parent.name == "a" else 1 for p in paths]
    order = np.random.default_rng(0).permutation(len(paths))
    images = [
        tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(paths[i]), channels=3), (7, 9))
        for i in order
    ]
    pairs = decode_indices(tf.stack(images).numpy(), fmt="jpeg")
    np.testing.assert_array_equal(pairs[:, 0], np.asarray(labels)[order])
    np.testing.assert_array_equal(pairs[:, 1], [int(Path(paths[i]).stem[-4:]) for i in order])


def test_tree_modes_and_fixed_size(tmp_path):
    paths = make_image_tree(tmp_path / "rgba", ("x",), 4, size=16, fmt="png", mode="RGBA")
    img = Image.open(paths[2])
    assert img.mode == "RGBA" and img.size == (16, 16)
    assert decode_index(np.asarray(img)) == (0, 2)

    paths = make_image_tree(tmp_path / "gray", ("p", "q"), 3, size=(5, 7), mode="L")
    img = Image.open(paths[-1])
    assert img.mode == "L" and img.size == (7, 5)
    assert decode_index(np.asarray(img)[..., None]) == (1, 2)


def test_tree_without_index_is_deterministic(tmp_path):
    a = make_image_tree(tmp_path / "a", per_class=3, fmt="png", encode_index=False, seed=7)
    b = make_image_tree(tmp_path / "b", per_class=3, fmt="png", encode_index=False, seed=7)
    c = make_image_tree(tmp_path / "c", per_class=3, fmt="png", encode_index=False, seed=8)
    assert [_sha1(p) for p in a] == [_sha1(p) for p in b]
    assert [_sha1(p) for p in a] != [_sha1(p) for p in c]


def test_encode_color_layout():
    assert encode_color(2, 300) == (2, 1, 44)
    assert encode_color(2, 35, lossy=True) == (40, 40, 56)
    assert encode_color(1, 1, mode="RGBA") == (1, 0, 1, 255)
    assert encode_color(3, 4, mode="L") == (52,)


def test_tree_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"`fmt` must be one of 'png', 'jpeg'.*Received: fmt='heic'"):
        make_image_tree(tmp_path, fmt="heic")
    with pytest.raises(ValueError, match=r"encodes at most 16 classes of 256 images"):
        make_image_tree(tmp_path, classes=("a",), per_class=257, fmt="jpeg")
    with pytest.raises(ValueError, match=r"`mode='RGBA'` cannot be written as 'jpeg'"):
        make_image_tree(tmp_path, fmt="jpeg", mode="RGBA")
    with pytest.raises(TypeError, match=r"`size` must be an int"):
        make_image_tree(tmp_path, size=(1, 2, 3))
    with pytest.raises(ValueError, match=r"`per_class` must be an int or have one entry per class"):
        make_image_tree(tmp_path, classes=("a", "b"), per_class=(1,))


# --------------------------------------------------------------------------
# make_photo_dataset
# --------------------------------------------------------------------------

_SMALL = dict(num_images=12, num_classes=3, size_range=(64, 240), mean_size=(110, 130), quality=(85, 95))


def _jpeg_quality(img) -> int | None:
    """The Pillow quality whose quantization tables the file uses."""
    probe = Image.new("RGB", (16, 16))
    for q in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, "JPEG", quality=q, subsampling=2)
        if Image.open(buf).quantization == img.quantization:
            return q
    return None


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    return make_photo_dataset(tmp_path_factory.mktemp("photos") / "ds", seed=5, **_SMALL)


def test_photo_dataset_layout_sizes_and_jpeg_params(photo_dir):
    manifest = json.loads((Path(photo_dir) / "MANIFEST.json").read_text())
    assert manifest["params"]["num_images"] == 12
    assert sorted(os.listdir(photo_dir)) == ["MANIFEST.json", "class_000", "class_001", "class_002"]
    files = sorted(Path(photo_dir).glob("class_*/*.jpg"))
    assert len(files) == 12
    for path in files:
        img = Image.open(path)
        assert img.format == "JPEG" and img.mode == "RGB"
        assert 64 <= img.width <= 240 and 64 <= img.height <= 240
        assert JpegImagePlugin.get_sampling(img) == 2  # 4:2:0
        assert 85 <= _jpeg_quality(img) <= 95
    entry = manifest["files"][0]
    assert _sha1(Path(photo_dir) / entry["path"]) == entry["sha1"]


def test_photo_dataset_is_deterministic_and_seeded(tmp_path, photo_dir):
    again = make_photo_dataset(tmp_path / "again", seed=5, workers=2, **_SMALL)
    other = make_photo_dataset(tmp_path / "other", seed=6, **_SMALL)

    def digests(root):
        return {p.relative_to(root).as_posix(): _sha1(p) for p in Path(root).glob("class_*/*.jpg")}

    assert digests(again) == digests(photo_dir)
    assert digests(other).keys() == digests(photo_dir).keys()
    assert digests(other) != digests(photo_dir)


def test_photo_dataset_looks_like_a_photo(photo_dir):
    path = sorted(Path(photo_dir).glob("class_*/*.jpg"))[0]
    arr = np.asarray(Image.open(path), dtype=np.float32)
    assert arr.std() > 10  # not flat
    assert np.abs(np.diff(arr, axis=1)).mean() > 2  # has fine texture
    assert os.path.getsize(path) * 8 / (arr.shape[0] * arr.shape[1]) > 1.0  # bits/pixel like a photo


def test_photo_dataset_reuses_and_refuses(tmp_path, photo_dir):
    manifest = Path(photo_dir) / "MANIFEST.json"
    before = manifest.stat().st_mtime_ns
    assert make_photo_dataset(photo_dir, seed=5, **_SMALL) == str(photo_dir)
    assert manifest.stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="other parameters"):
        make_photo_dataset(photo_dir, seed=9, **_SMALL)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        make_photo_dataset(tmp_path / "busy", **_SMALL)
    assert (tmp_path / "busy" / "keep.txt").read_text() == "user data"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_photo_dataset_validates_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"`quality` values must be ints in \[1, 100\]"):
        make_photo_dataset(tmp_path / "q", quality=(80, 101))
    with pytest.raises(ValueError, match=r"`num_classes` must be <= `num_images`"):
        make_photo_dataset(tmp_path / "n", num_images=2, num_classes=3)
    assert not list(tmp_path.iterdir())
    assert photo_dataset_name(10, 2, 0, (200, 1000), (350, 400), (85, 95)).startswith(
        "photos-n10-c2-s0-r200_1000-m350x400-q85_95-v"
    )


# --------------------------------------------------------------------------
# Benchmark suite
# --------------------------------------------------------------------------


def test_time_epoch_excludes_the_first_batch():
    from benchmarks.cases import EpochSource
    from benchmarks.worker import time_epoch

    batches = [np.zeros((4, 1)), np.zeros((4, 1)), np.zeros((2, 1)), np.zeros((4, 1))]
    result = time_epoch(EpochSource(lambda: iter(batches), num_batches=3, check_output=False))
    assert result["images"] == 10 and result["batches"] == 3
    assert result["steady_images"] == 6
    assert result["images_per_s"] > 0 and result["first_batch_s"] >= 0


def test_checks_pass_fail_and_skip():
    from benchmarks.report import compute_checks, summarize

    def rec(case, ips, cpu=1.0):
        return {"case": case, "size": 224, "status": "ok",
                "runs": [{"images_per_s": ips, "steady_cpu_s_per_1000": cpu}]}

    records = [rec("keras_legacy_fit_adapter", 100, 2.0), rec("keras_legacy_fit", 125, 1.5),
               rec("tfdirpipe_default", 200), rec("tfdirpipe_fast", 240, 1.2),
               rec("handwritten_dct", 250), rec("keras_idfd", 210), rec("tfdirpipe_idfd", 205)]
    summarize(records)
    ratios = {r["case"]: (r["vs_legacy"], r["vs_index_loop"]) for r in records}
    assert ratios["tfdirpipe_default"] == (2.0, 1.6)          # vs the adapter, vs it[i] loop
    rss = [{"case": "tfdirpipe_default", "size": 224, "num_images": [10, 20], "peak_rss_mb": [700, 720]},
           {"case": "tfdirpipe_fast", "size": 224, "num_images": [10, 20], "peak_rss_mb": [700, 900]}]
    by = {(c["check"], c["size"]): c["result"] for c in compute_checks(records, rss)}
    assert by[("default vs legacy", 224)] == "PASS"          # 2.0x >= 1.8x
    assert by[("fast vs legacy", 224)] == "FAIL"             # 2.4x < 2.5x
    assert by[("fast vs handwritten_dct", 224)] == "PASS"    # 0.96x
    assert by[("cached epoch 2 vs legacy", 224)] == "SKIP"
    assert by[("fast CPU-s/1000 (steady) vs legacy", 224)] == "PASS"  # 0.6x
    assert by[("idfd (equal work) vs keras_idfd", 224)] == "FAIL"  # 205 < 210
    assert by[("fast vs keras_idfd", 224)] == "PASS"
    assert by[("default vs keras_idfd (more work: Pillow-exact)", 224)] == "INFO"
    assert by[("tfdirpipe_default RSS flat N->2N", 224)] == "PASS"
    assert by[("tfdirpipe_fast RSS flat N->2N", 224)] == "FAIL"


@pytest.mark.slow
def test_benchmark_cli_end_to_end(tmp_path):
    data = make_photo_dataset(tmp_path / "data", num_images=40, num_classes=4,
                              size_range=(160, 400), mean_size=(220, 260))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "benchmarks", "--data", data, "--out", str(out),
           "--cases", "raw_decode_ceiling,handwritten_dct", "--sizes", "150",
           "--repeats", "2", "--no-progress", "--timeout", "120"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]

    payload = json.loads((out / "results.json").read_text())
    for key in ("tensorflow", "keras", "cpu_count", "cpu_model", "gpu", "git_commit", "date_utc"):
        assert payload["meta"][key] is not None, key
    assert payload["dataset"]["num_images"] == 40
    records = {r["case"]: r for r in payload["pipeline"]}
    assert set(records) == {"raw_decode_ceiling", "handwritten_dct"}
    for rec in records.values():
        assert rec["status"] == "ok", rec.get("error")
        assert len(rec["runs"]) == 2
        assert all(r["images"] == 40 and r["batches"] == 2 for r in rec["runs"])
        assert rec["summary"]["images_per_s"]["median"] > 0
        assert rec["peak_rss_mb"] > 0
    assert records["handwritten_dct"]["sanity"] == []
    assert {c["result"] for c in payload["checks"]} == {"SKIP"}  # no baseline, no tfdirpipe

    md = (out / "results.md").read_text()
    assert "| raw_decode_ceiling | 150 |" in md and "| handwritten_dct | 150 |" in md
    assert md in proc.stdout
    png = Image.open(out / "results.png")
    assert png.format == "PNG" and png.width > 300
