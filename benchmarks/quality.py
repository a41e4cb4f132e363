"""Pixel quality of fast mode: PSNR of ``fast=True`` against the Keras-exact path.

``python -m benchmarks.quality --data DIR [--sizes 150,224] [--limit 200] [--json]``

For each target size and interpolation, every image (up to ``--limit``, in
file order) is loaded twice with `tfdirpipe.pipeline.load_image`: the default
mode (bit-exact Keras ``load_img``: full decode, Pillow-exact resize) and fast
mode (DCT-scaled decode with libjpeg's fast integer IDCT, TensorFlow resize).
Reported: PSNR over all pixels (from the pooled mean squared error), the
median and the worst per-image PSNR, the mean absolute difference, and the
share of pixels that differ at all. The main suite runs it in a subprocess
and puts the table in its report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

__all__ = ["main", "markdown", "measure"]

INTERPOLATIONS = ("nearest", "bilinear")


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def measure(data_dir: str, sizes: list[int], limit: int = 200) -> list[dict]:
    """PSNR rows, one per ``(size, interpolation)``; see the module docstring."""
    import numpy as np
    import tensorflow as tf

    from benchmarks.cases import list_class_dir
    from tfdirpipe import pipeline

    paths, _, _ = list_class_dir(data_dir)
    paths = paths[:limit]
    if not paths:
        raise ValueError(f"No images found under {data_dir!r}.")
    rows = []
    for size in sizes:
        for interpolation in INTERPOLATIONS:
            exact = pipeline.LoadSpec((size, size), interpolation=interpolation)
            fast = pipeline.LoadSpec((size, size), interpolation=interpolation, fast=True)
            ds = tf.data.Dataset.from_tensor_slices(paths).map(
                lambda p, exact=exact, fast=fast: (
                    pipeline.load_image(p, exact), pipeline.load_image(p, fast)
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            per_image, sq_sum, abs_sum, differ, count = [], 0.0, 0.0, 0, 0
            for a, b in ds.as_numpy_iterator():
                d = a.astype(np.float64) - b.astype(np.float64)
                sq = float(np.sum(d * d))
                per_image.append(_psnr(sq / d.size))
                sq_sum += sq
                abs_sum += float(np.sum(np.abs(d)))
                differ += int(np.count_nonzero(d))
                count += d.size
            finite = sorted(per_image)
            rows.append({
                "size": size,
                "interpolation": interpolation,
                "images": len(per_image),
                "psnr_db": _psnr(sq_sum / count),
                "median_image_psnr_db": finite[len(finite) // 2],
                "worst_image_psnr_db": finite[0],
                "mean_abs_diff": abs_sum / count,
                "pixels_differing": differ / count,
            })
    return rows


def markdown(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| size | interpolation | images | PSNR dB (pooled) | median / worst image dB "
        "| mean abs diff (0-255) | values differing |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['interpolation']} | {r['images']} | {r['psnr_db']:.1f} | "
            f"{r['median_image_psnr_db']:.1f} / {r['worst_image_psnr_db']:.1f} | "
            f"{r['mean_abs_diff']:.2f} | {r['pixels_differing']:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, metavar="DIR", help="class-per-folder image directory")
    p.add_argument("--sizes", default="150,224", help="square target sizes (default: 150,224)")
    p.add_argument("--limit", type=int, default=200, help="images to compare (default: 200)")
    p.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    if not sizes or min(sizes) < 1 or args.limit < 1:
        print("error: --sizes and --limit must be positive", file=sys.stderr)
        return 2
    rows = measure(args.data, sizes, args.limit)
    print(json.dumps(rows) if args.json else markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
