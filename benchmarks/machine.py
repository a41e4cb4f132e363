"""Machine and software metadata recorded with every benchmark run."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shutil
import subprocess
from importlib import metadata

from benchmarks.data import REPO_ROOT

__all__ = ["collect_metadata", "load_average"]


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _nvidia_gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def _tfdirpipe_version() -> str | None:
    try:
        text = (REPO_ROOT / "tfdirpipe" / "__init__.py").read_text()
    except OSError:
        return None
    m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return m.group(1) if m else None


def load_average() -> list[float] | None:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def collect_metadata(worker_hello: dict | None = None, load_at_start: list[float] | None = None) -> dict:
    """Everything needed to compare two runs, without importing TensorFlow.

    `worker_hello` is a worker's answer to "hello" (TensorFlow's own view of
    versions and GPUs); installed distribution versions are used otherwise.
    """
    hello = worker_hello or {}
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain")
    gpus = hello.get("gpus") or []
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tensorflow": hello.get("tensorflow") or _version("tensorflow", "tensorflow-cpu"),
        "keras": hello.get("keras") or _version("keras"),
        "tfdirpipe": _tfdirpipe_version(),
        "numpy": _version("numpy"),
        "pillow": _version("pillow", "Pillow"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "mem_total_gb": _mem_total_gb(),
        "load_avg_at_start": load_at_start,
        "load_avg_at_end": load_average(),
        "gpu": ", ".join(gpus) if gpus else (", ".join(_nvidia_gpus()) or "none"),
        "gpu_visible_to_tf": bool(gpus),
        "git_commit": commit or "unknown (no commit yet)",
        "git_dirty": bool(dirty) if dirty is not None else None,
    }
