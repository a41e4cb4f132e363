"""Peak memory of "all my data as arrays": naive list vs preallocated vs memmap.

``python -m benchmarks.memory [--quick] [--out DIR]`` (or ``run(quick)``)
measures three ways of turning a ``flow_from_directory`` iterator (224x224
RGB, float32, ``rescale=1/255``, 10 classes, shuffle off) into arrays:

* ``naive``: the usual recipe -- ``next(it)`` for every batch, appended to
  a list, then ``np.concatenate``: the data is held twice at the end.
* ``preallocated``: ``tfdirpipe.materialize.to_numpy(it)``: the result is
  allocated once and filled batch by batch.
* ``memmap``: ``to_numpy(it, path)``: batches written to ``x.npy`` /
  ``y.npy`` and returned memory-mapped.

Each (case, size) runs in a fresh subprocess, so one case's allocations
cannot lower another's peak. The worker builds the iterator and warms the
pipeline up on one batch (tracing, thread pools, first allocations) before
measuring, then reports

* ``peak_mb``: the process's peak RSS during the run (Linux ``VmHWM`` after
  resetting it through ``/proc/self/clear_refs``; a 5 ms RSS sampler where
  that is unavailable);
* ``added_mb``: ``peak_mb`` minus the RSS just before the run -- what the
  recipe itself costs, TensorFlow's own ~0.5-1 GB left out;
* ``images_per_s``: images over the run's wall time (decode, resize,
  standardize and the copies or writes).

A constant ~150 MB of TensorFlow working memory (224x224x32 float32
batches in flight; unchanged with tf.data autotuning off, prefetch 1, or
one malloc arena) is part of every case's ``added_mb``.

Every case runs at ``N`` images and at ``2N``. Checks: the memmap run adds
under 10% of what the naive recipe adds, and its peak is flat as ``N``
doubles (within ``max(64 MiB, 10%)``, the suite's RSS-flat rule).

Images are small flat-colour PNGs (``make_image_tree``) resized up to
224x224 with nearest neighbour: cheap to decode, the same array sizes as
real photos. Outputs: ``memory.json`` (with machine metadata) and
``memory.md`` in ``--out`` (default ``bench_out/memory``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.data import REPO_ROOT, testing_module

__all__ = ["CASES", "run", "main"]

CASES: tuple[str, ...] = ("naive", "preallocated", "memmap")
TARGET_SIZE = (224, 224)
BATCH_SIZE = 32
NUM_CLASSES = 10
NUM_IMAGES = 2000  # N; the flat check also runs 2N
FULL_REPEATS = 3
UNDER_NAIVE = 0.10  # memmap adds less than this fraction of the naive recipe
FLAT_ABS_MB = 64.0
FLAT_REL = 0.10


# --------------------------------------------------------------------------
# Orchestrator (no TensorFlow here)
# --------------------------------------------------------------------------


def ensure_tree(data_root: str | os.PathLike, num_images: int) -> str:
    """A class-per-folder PNG tree of ``num_images`` at ``data_root``; reused."""
    per_class = num_images // NUM_CLASSES
    root = Path(data_root) / f"memory-tree-{NUM_CLASSES}x{per_class}"
    done = root / ".complete"
    if done.exists():
        return str(root)
    tmp = Path(tempfile.mkdtemp(prefix=root.name + ".tmp-", dir=Path(data_root)))
    testing = testing_module()
    testing.make_image_tree(
        tmp, classes=[f"class_{c:02d}" for c in range(NUM_CLASSES)], per_class=per_class,
        size=(32, 32), fmt="png",
    )
    (tmp / ".complete").write_text("")
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return str(root)


def _run_worker(case: str, directory: str, scratch: str, timeout: float) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    spec = json.dumps({"case": case, "directory": directory, "scratch": scratch})
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--worker", spec],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"case": case, "error": (proc.stderr or proc.stdout)[-2000:], "returncode": proc.returncode}
    return json.loads(lines[-1])


def run(
    quick: bool = False,
    out_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    num_images: int | None = None,
    repeats: int | None = None,
    verbose: bool = True,
) -> dict:
    """Runs every case at N and 2N images; writes JSON + markdown; returns the results.

    Args:
        quick: One run per (case, size) instead of the median of
            ``FULL_REPEATS``. ``N`` stays 2000 (1.1 / 2.3 GB of float32
            images): below ~1500 TensorFlow's constant ~150 MB working set is
            over 10% of what the naive recipe adds, and the check says
            nothing about the recipes.
        out_dir: Where ``memory.json`` and ``memory.md`` go (default
            ``bench_out/memory``).
        data_dir: Where the image trees are generated (default
            ``.bench_data``); reused across runs.
        num_images: Overrides ``N``.
        repeats: Overrides the runs per (case, size); medians are kept.
        verbose: Print one line per run to stderr.
    """
    n = num_images or NUM_IMAGES
    repeats = repeats or (1 if quick else FULL_REPEATS)
    out = Path(out_dir or REPO_ROOT / "bench_out" / "memory")
    data = Path(data_dir or REPO_ROOT / ".bench_data")
    out.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    sizes = [n, 2 * n]
    trees = {size: ensure_tree(data, size) for size in sizes}
    records = []
    with tempfile.TemporaryDirectory(prefix="memmap-", dir=data) as scratch:
        for size in sizes:
            for case in CASES:
                runs = []
                for r in range(repeats):
                    res = _run_worker(case, trees[size], os.path.join(scratch, f"{case}-{size}-{r}"), 1800)
                    runs.append(res)
                    if verbose:
                        sys.stderr.write(f"[memory] {case:>12} n={size}: {_line(res)}\n")
                records.append(_summarize(case, size, runs))
    from benchmarks.machine import collect_metadata

    result = {
        "benchmark": "memory",
        "quick": quick,
        "config": {
            "target_size": list(TARGET_SIZE), "batch_size": BATCH_SIZE, "dtype": "float32",
            "num_classes": NUM_CLASSES, "sizes": sizes, "repeats": repeats,
        },
        "metadata": collect_metadata(),
        "records": records,
        "checks": _checks(records, sizes),
    }
    (out / "memory.json").write_text(json.dumps(result, indent=1))
    (out / "memory.md").write_text(markdown(result))
    return result


def _line(res: dict) -> str:
    if "error" in res:
        return "ERROR " + res["error"].strip().splitlines()[-1][:200]
    return (
        f"peak {res['peak_mb']:.0f} MB, added {res['added_mb']:.0f} MB, "
        f"{res['images_per_s']:.0f} img/s"
    )


def _summarize(case: str, size: int, runs: list[dict]) -> dict:
    good = [r for r in runs if "error" not in r]
    rec = {"case": case, "images": size, "runs": runs}
    if not good:
        rec["error"] = runs[-1].get("error")
        return rec
    for key in ("peak_mb", "added_mb", "baseline_mb", "images_per_s", "seconds"):
        rec[key] = statistics.median(r[key] for r in good)
    rec["data_mb"] = good[0]["data_mb"]
    rec["added_per_data"] = rec["added_mb"] / rec["data_mb"] if rec["data_mb"] else None
    rec["peak_method"] = good[0]["peak_method"]
    return rec


def _checks(records: list[dict], sizes: list[int]) -> dict:
    by = {(r["case"], r["images"]): r for r in records}

    def get(case, size, key):
        return by.get((case, size), {}).get(key)

    checks = {}
    for size in sizes:
        mm, naive = get("memmap", size, "added_mb"), get("naive", size, "added_mb")
        ok = mm is not None and naive is not None and mm < UNDER_NAIVE * naive
        checks[f"memmap_under_10pct_of_naive_at_{size}"] = {
            "ok": ok, "memmap_added_mb": mm, "naive_added_mb": naive,
            "ratio": (mm / naive) if mm is not None and naive else None,
        }
    small, large = sizes
    p1, p2 = get("memmap", small, "peak_mb"), get("memmap", large, "peak_mb")
    if p1 is not None and p2 is not None:
        allowed = max(FLAT_ABS_MB, FLAT_REL * p1)
        checks["memmap_flat_as_n_doubles"] = {
            "ok": p2 - p1 <= allowed, "peak_mb_n": p1, "peak_mb_2n": p2, "allowed_growth_mb": allowed,
        }
    else:
        checks["memmap_flat_as_n_doubles"] = {"ok": False, "error": "missing run"}
    return checks


def markdown(result: dict) -> str:
    """The results as a markdown table plus the checks."""
    meta = result["metadata"]
    cfg = result["config"]
    lines = [
        "# Memory: all images as arrays",
        "",
        f"{cfg['target_size'][0]}x{cfg['target_size'][1]} RGB float32, batch {cfg['batch_size']}, "
        f"{cfg['num_classes']} classes; TensorFlow {meta.get('tensorflow')}, "
        f"{meta.get('cpu_count')} CPUs ({meta.get('cpu_model')}), commit {meta.get('git_commit')}.",
        "Peak RSS measured in a fresh process per row; *added* = peak minus the RSS just "
        "before the run (TensorFlow's own memory left out).",
        "",
        "| case | images | data (MB) | peak RSS (MB) | added (MB) | added / data | images/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["records"]:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['images']} | | error | | | |")
            continue
        lines.append(
            f"| {r['case']} | {r['images']} | {r['data_mb']:.0f} | {r['peak_mb']:.0f} | "
            f"{r['added_mb']:.0f} | {r['added_per_data']:.2f}x | {r['images_per_s']:.0f} |"
        )
    lines += ["", "Checks:", ""]
    for name, c in result["checks"].items():
        detail = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items() if k != "ok"
        )
        lines.append(f"- {'PASS' if c['ok'] else 'FAIL'} `{name}` ({detail})")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Worker (one case, one size, in its own process)
# --------------------------------------------------------------------------


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class _PeakMeter:
    """Peak RSS from now on: VmHWM after a reset, else a sampling thread."""

    def __init__(self):
        self.baseline = _status_mb("VmRSS")
        self.method = "VmHWM"
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets the peak RSS to the current RSS
            hwm = _status_mb("VmHWM")
            if hwm is None or self.baseline is None or hwm > self.baseline * 1.05 + 16:
                raise OSError("VmHWM was not reset")
        except OSError:
            self.method = "sampled"
            self._start_sampler()

    def _start_sampler(self):
        import psutil

        proc = psutil.Process()
        self.baseline = proc.memory_info().rss / 2**20
        self.sampled = self.baseline
        self._stop = threading.Event()

        def loop():
            while not self._stop.is_set():
                self.sampled = max(self.sampled, proc.memory_info().rss / 2**20)
                time.sleep(0.005)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def peak(self) -> float:
        if self.method == "VmHWM":
            return _status_mb("VmHWM")
        self._stop.set()
        self._thread.join()
        return self.sampled


def _worker(spec: dict) -> dict:
    import numpy as np

    import tfdirpipe
    from tfdirpipe.materialize import to_numpy

    case, directory, scratch = spec["case"], spec["directory"], spec["scratch"]
    it = tfdirpipe.ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        directory, target_size=TARGET_SIZE, batch_size=BATCH_SIZE, shuffle=False, verbose=False,
    )
    n = it.n
    # Warm-up on one batch of the same path: tracing, thread pools, allocator.
    if case == "naive":
        next(it)
        it.reset()
    elif case == "preallocated":
        to_numpy(it, limit=BATCH_SIZE, verbose=0)
    else:
        to_numpy(it, os.path.join(scratch, "warmup"), limit=BATCH_SIZE, verbose=0)

    meter = _PeakMeter()
    start = time.perf_counter()
    if case == "naive":
        xs, ys = [], []
        for _ in range(len(it)):
            bx, by = next(it)
            xs.append(bx)
            ys.append(by)
        x, y = np.concatenate(xs), np.concatenate(ys)
    elif case == "preallocated":
        x, y = to_numpy(it, verbose=0)
    else:
        x, y = to_numpy(it, os.path.join(scratch, "arrays"), verbose=0)
    seconds = time.perf_counter() - start
    peak = meter.peak()
    assert x.shape == (n, *TARGET_SIZE, 3) and y.shape[0] == n
    return {
        "case": case,
        "images": n,
        "data_mb": (x.nbytes + y.nbytes) / 2**20,
        "baseline_mb": meter.baseline,
        "peak_mb": peak,
        "added_mb": peak - meter.baseline,
        "peak_method": meter.method,
        "seconds": seconds,
        "images_per_s": n / seconds,
    }


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"one run per case instead of {FULL_REPEATS}")
    parser.add_argument("--out", default=None, help="output directory (default bench_out/memory)")
    parser.add_argument("--data", default=None, help="dataset directory (default .bench_data)")
    parser.add_argument("--images", type=int, default=None, help="N (the second size is 2N)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per case and size (median kept)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(_worker(json.loads(args.worker))), flush=True)
        return 0
    result = run(args.quick, args.out, args.data, args.images, args.repeats)
    sys.stdout.write(markdown(result))
    return 0 if all(c["ok"] for c in result["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
