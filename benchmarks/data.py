"""Benchmark datasets: generate, double, describe, warm the page cache.

The orchestrator process stays free of TensorFlow (no extra threads or
memory next to the timed worker), so `tfdirpipe/testing.py` -- which needs
only Pillow and NumPy -- is loaded from its file rather than through the
`tfdirpipe` package, whose `__init__` imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

__all__ = [
    "REPO_ROOT",
    "describe_dataset",
    "ensure_doubled",
    "ensure_photo_dataset",
    "testing_module",
    "warm_page_cache",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def testing_module() -> ModuleType:
    """`tfdirpipe/testing.py` as a standalone module (no TensorFlow import)."""
    name = "_tfdirpipe_testing_standalone"
    if name in sys.modules:
        return sys.modules[name]
    path = REPO_ROOT / "tfdirpipe" / "testing.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def ensure_photo_dataset(
    root_dir: str | os.PathLike,
    num_images: int,
    num_classes: int,
    seed: int = 0,
    workers: int | None = None,
) -> str:
    """`make_photo_dataset` at `root_dir/photos-<params>`; reused when complete."""
    testing = testing_module()
    params = dict(
        num_images=num_images,
        num_classes=num_classes,
        seed=seed,
        size_range=(200, 1000),
        mean_size=(350, 400),
        quality=(85, 95),
    )
    path = Path(root_dir) / testing.photo_dataset_name(**params)
    return testing.make_photo_dataset(path, workers=workers or os.cpu_count() or 1, **params)


def _list_images(directory: str) -> list[tuple[str, str]]:
    """(class folder, file name) pairs of the images one level down."""
    out = []
    for cls in sorted(os.listdir(directory)):
        folder = os.path.join(directory, cls)
        if not os.path.isdir(folder):
            continue
        for fname in sorted(os.listdir(folder)):
            if fname.lower().endswith(_IMAGE_EXTENSIONS):
                out.append((cls, fname))
    return out


def ensure_doubled(directory: str, out_root: str | os.PathLike) -> str:
    """A tree with every image of `directory` twice (hard links, else symlinks).

    Used by the "RSS flat as the dataset doubles" check: same classes, same
    bytes per image, twice the files.
    """
    directory = os.path.abspath(directory)
    tag = hashlib.sha1(directory.encode()).hexdigest()[:8]
    target = Path(out_root) / f"{Path(directory).name}-{tag}-x2"
    marker = target / ".complete"
    images = _list_images(directory)
    if marker.exists() and marker.read_text() == f"{directory}\n{len(images)}\n":
        return str(target)
    for cls, fname in images:
        os.makedirs(target / cls, exist_ok=True)
        for copy in ("a", "b"):
            dst = target / cls / f"{copy}_{fname}"
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            src = os.path.join(directory, cls, fname)
            try:
                os.link(src, dst)
            except OSError:
                os.symlink(src, dst)
    marker.write_text(f"{directory}\n{len(images)}\n")
    return str(target)


def warm_page_cache(directory: str) -> int:
    """Reads every image once so no case pays for the first disk read."""
    total = 0
    for cls, fname in _list_images(directory):
        with open(os.path.join(directory, cls, fname), "rb") as f:
            total += len(f.read())
    return total


def describe_dataset(directory: str) -> dict:
    """Counts, bytes and (for generated data) sizes and qualities."""
    images = _list_images(directory)
    classes = sorted({c for c, _ in images})
    total = sum(os.path.getsize(os.path.join(directory, c, f)) for c, f in images)
    info = {
        "path": os.path.abspath(directory),
        "num_images": len(images),
        "num_classes": len(classes),
        "total_mb": round(total / 2**20, 2),
        "mean_kb": round(total / max(len(images), 1) / 1024, 1),
    }
    manifest = os.path.join(directory, "MANIFEST.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            m = json.load(f)
        files = m.get("files", [])
        if files:
            hs = [e["height"] for e in files]
            ws = [e["width"] for e in files]
            info["generator"] = m.get("params")
            info["mean_height"] = round(sum(hs) / len(hs), 1)
            info["mean_width"] = round(sum(ws) / len(ws), 1)
            info["min_side"] = min(min(hs), min(ws))
            info["max_side"] = max(max(hs), max(ws))
    return info
