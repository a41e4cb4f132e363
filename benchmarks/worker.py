"""Benchmark worker: one process per case, driven over a pipe.

The orchestrator (`benchmarks.runner`) starts `python -m benchmarks.worker
CASE`, then sends one JSON command per line on stdin and reads one JSON reply
per line:

    {"cmd": "hello"}                       -> versions, devices
    {"cmd": "setup", "setup": {...}, "warmup_batches": k}
                                           -> build + warm-up (untimed)
    {"cmd": "run"}                         -> one timed epoch (or fit)
    {"cmd": "teardown"}                    -> peak RSS since setup; frees it
    {"cmd": "exit"}

Replies travel on a private duplicate of the original stdout; fd 1 itself is
pointed at stderr so prints from TensorFlow, Keras or the code under test
cannot corrupt the protocol (stderr goes to a per-case log file).

Peak RSS is per (case, size): `setup` resets the kernel's high-water mark
(`/proc/self/clear_refs`, "5") so `teardown` reports the peak of that size
alone; where that is not possible the report says the peak is cumulative.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from typing import Any

__all__ = ["main", "read_memory_mb", "reset_peak_rss", "time_epoch"]


def read_memory_mb() -> dict[str, float]:
    """Current (`rss_mb`) and peak (`peak_rss_mb`) resident set size in MiB."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mb"] = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    out["peak_rss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        out["peak_rss_mb"] = peak / 1024
    return out


def reset_peak_rss() -> bool:
    """Resets the peak-RSS mark to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _batch_len(batch: Any) -> int:
    x = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(x, dict):
        x = next(iter(x.values()))
    return int(x.shape[0])


def time_epoch(source) -> dict:
    """Times one epoch of an `EpochSource`.

    The iterator is created inside the timer (a new epoch costs that in
    training too). First-batch latency is apart; images/s is the steady state
    from the first batch's arrival to the last. CPU time is the whole
    process (all threads, `time.process_time`), per 1000 images, both over
    the whole epoch (`cpu_s_per_1000`, includes per-epoch start-up such as
    tracing) and over the steady state (`steady_cpu_s_per_1000`; work a
    pipeline prefetched before the first batch arrived is not in it, a bias
    of a few batches out of an epoch).
    """
    gc.collect()
    t0 = time.perf_counter()
    c0 = time.process_time()
    iterator = iter(source.start())
    t_first = None
    first_n = 0
    images = batches = 0
    batch = None
    for batch in iterator:
        n = _batch_len(batch)
        if t_first is None:
            t_first = time.perf_counter()
            c_first = time.process_time()
            first_n = n
        images += n
        batches += 1
        if batches >= source.num_batches:
            break
    t_end = time.perf_counter()
    c_end = time.process_time()
    cpu = c_end - c0
    steady_cpu = (c_end - c_first) if t_first is not None else 0.0
    del iterator, batch
    steady_images = images - first_n
    steady_s = (t_end - t_first) if t_first is not None else 0.0
    return {
        "images": images,
        "batches": batches,
        "expected_batches": source.num_batches,
        "epoch_s": t_end - t0,
        "first_batch_s": (t_first - t0) if t_first is not None else None,
        "steady_images": steady_images,
        "steady_s": steady_s,
        "images_per_s": steady_images / steady_s if steady_images > 0 and steady_s > 0 else None,
        "cpu_s": cpu,
        "cpu_s_per_1000": cpu / images * 1000 if images else None,
        "steady_cpu_s": steady_cpu,
        "steady_cpu_s_per_1000": steady_cpu / steady_images * 1000 if steady_images > 0 else None,
    }


def _check_first_batch(batch, setup) -> list[str]:
    """Problems with a batch that should look like the drop-in's output."""
    import numpy as np

    problems = []
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        return [f"batch is {type(batch).__name__}, expected (x, y)"]
    x, y = np.asarray(batch[0]), np.asarray(batch[1])
    if x.dtype != np.float32:
        problems.append(f"x dtype {x.dtype}, expected float32")
    if x.ndim != 4 or x.shape[1:] != (setup.size, setup.size, 3):
        problems.append(f"x shape {x.shape}, expected (b, {setup.size}, {setup.size}, 3)")
    if x.size and (x.min() < 0 or x.max() > 1.0001):
        problems.append(f"x range [{x.min():.3g}, {x.max():.3g}], expected within [0, 1]")
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        problems.append(f"y shape {y.shape}, expected (b, num_classes) one-hot")
    elif not np.allclose(y.sum(axis=1), 1.0):
        problems.append("y rows do not sum to 1 (not one-hot)")
    return problems


class _Worker:
    def __init__(self, case_name: str):
        from benchmarks.cases import get_case

        self.case = get_case(case_name)
        self.built = None
        self.setup = None
        self.peak_reset = False

    def hello(self, msg: dict) -> dict:
        info: dict[str, Any] = {"pid": os.getpid(), "python": sys.version.split()[0]}
        try:
            import tensorflow as tf

            info["tensorflow"] = tf.__version__
            info["gpus"] = []
            for dev in tf.config.list_physical_devices("GPU"):
                try:
                    name = tf.config.experimental.get_device_details(dev).get("device_name", dev.name)
                except Exception:  # noqa: BLE001 - details are best effort
                    name = dev.name
                info["gpus"].append(name)
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            info["import_error"] = f"{type(e).__name__}: {e}"
        try:  # Keras's version without paying for its import here
            from importlib.metadata import version

            info["keras"] = version("keras")
        except Exception:  # noqa: BLE001
            pass
        info.update(read_memory_mb())
        return info

    def do_setup(self, msg: dict) -> dict:
        from benchmarks.cases import EpochSource, Setup

        self.release()
        self.peak_reset = reset_peak_rss()
        base = read_memory_mb()
        self.setup = Setup(**msg["setup"])
        t0 = time.perf_counter()
        built = self.case.build(self.setup)
        out: dict[str, Any] = {"rss_before_setup_mb": base.get("rss_mb"), "notes": list(built.notes)}
        if isinstance(built, EpochSource):
            if built.prepare is not None:
                built.prepare()
            # Warm-up: the first batches of a fresh epoch (tracing, thread
            # pools, Pillow plugins, page cache), plus the output check.
            warm = max(1, int(msg.get("warmup_batches", 2)))
            for k, batch in enumerate(built.start()):
                if k == 0 and built.check_output:
                    out["sanity"] = _check_first_batch(batch, self.setup)
                if k + 1 >= min(warm, built.num_batches):
                    break
            out["num_batches"] = built.num_batches
        else:
            built.warmup()
        self.built = built
        out["setup_s"] = time.perf_counter() - t0
        out.update(read_memory_mb())
        return out

    def do_run(self, msg: dict) -> dict:
        from benchmarks.cases import EpochSource

        if self.built is None:
            raise RuntimeError("`run` before a successful `setup`")
        if isinstance(self.built, EpochSource):
            result = time_epoch(self.built)
        else:
            result = self.built.run()
        result.update(read_memory_mb())
        return result

    def do_teardown(self, msg: dict) -> dict:
        mem = read_memory_mb()
        out = {"peak_rss_mb": mem.get("peak_rss_mb"), "rss_mb": mem.get("rss_mb"),
               "peak_is_per_size": self.peak_reset}
        self.release()
        return out

    def release(self):
        self.built = None
        gc.collect()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m benchmarks.worker CASE", file=sys.stderr)
        return 2
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints (TF, Keras, code under test) go to the log
    sys.stdout = sys.stderr

    def reply(obj: dict):
        proto.write(json.dumps(obj, default=str) + "\n")
        proto.flush()

    try:
        worker = _Worker(argv[0])
    except Exception as e:  # noqa: BLE001
        reply({"ok": False, "error": f"{type(e).__name__}: {e}"})
        return 1
    handlers = {
        "hello": worker.hello,
        "setup": worker.do_setup,
        "run": worker.do_run,
        "teardown": worker.do_teardown,
    }
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        if cmd == "exit":
            reply({"ok": True})
            break
        handler = handlers.get(cmd)
        if handler is None:
            reply({"ok": False, "error": f"unknown command {cmd!r}"})
            continue
        try:
            result = handler(msg)
            result["ok"] = True
            reply(result)
        except BaseException as e:  # noqa: BLE001 - every failure is a reply
            traceback.print_exc()
            reply({"ok": False, "error": f"{type(e).__name__}: {e}".strip()[:2000]})
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
