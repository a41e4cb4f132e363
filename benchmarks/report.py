"""Summaries, target checks, and the JSON / markdown / PNG outputs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

__all__ = [
    "BASELINE",
    "INDEX_LOOP",
    "short_error",
    "RSS_FLAT_ABS_MB",
    "RSS_FLAT_REL",
    "compute_checks",
    "markdown_report",
    "summarize",
    "write_chart",
    "write_json",
]

# The legacy generator as model.fit reads it: Keras's own PyDatasetAdapter
# (from_generator + prefetch), which is what the project's targets are stated
# against (~510 img/s at 224, ~640 at 150, ~2.0 CPU-s per 1000 on 2 cores).
BASELINE = "keras_legacy_fit_adapter"
# The same iterator read by a bare `it[i]` loop: no tf.data wrapper, so
# faster than what model.fit gets. Ratios against it are reported as well.
INDEX_LOOP = "keras_legacy_fit"

# "Flat" = peak RSS at 2N within max(64 MiB, 10%) of peak RSS at N: streaming
# memory may wobble with autotuned buffer sizes, but must not scale with N.
RSS_FLAT_ABS_MB = 64.0
RSS_FLAT_REL = 0.10


def _stats(values: list[float | None]) -> dict | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize(records: list[dict], key_metric: str = "images_per_s") -> None:
    """Adds `summary` (median/min/max per metric) and `vs_legacy` in place."""
    for rec in records:
        runs = rec.get("runs", [])
        rec["summary"] = {
            metric: _stats([r.get(metric) for r in runs])
            for metric in (
                "images_per_s", "first_batch_s", "cpu_s_per_1000", "steady_cpu_s_per_1000", "epoch_s",
                "steps_per_s", "first_step_s",
            )
            if any(metric in r for r in runs)
        }
    by_key = {(r["case"], r["size"]): r for r in records}
    for rec in records:
        base = by_key.get((_baseline_for(rec["case"]), rec["size"]))
        mine = _median(rec, key_metric)
        ref = _median(base, key_metric) if base else None
        rec["vs_legacy"] = mine / ref if mine and ref else None
        loop = by_key.get((INDEX_LOOP, rec["size"]))
        # Only for cases measured against the plain generator (not augment, not e2e).
        comparable = _baseline_for(rec["case"]) == BASELINE
        loop_ref = _median(loop, key_metric) if loop and comparable else None
        rec["vs_index_loop"] = mine / loop_ref if mine and loop_ref else None


def _baseline_for(case: str) -> str:
    if case.startswith("e2e_"):
        return "e2e_keras_legacy"
    if case.endswith("_augment"):  # augmented pipelines against augmented legacy
        return "keras_legacy_augment"
    return BASELINE


def _median(rec: dict | None, metric: str) -> float | None:
    if not rec:
        return None
    s = rec.get("summary", {}).get(metric)
    return s["median"] if s else None


def _target_row(name, size, target_text, value, ok, value_fmt="{:.2f}x", missing=None):
    if value is None:
        return {"check": name, "size": size, "target": target_text, "measured": None,
                "result": "SKIP", "why": missing or "case missing or unavailable"}
    return {"check": name, "size": size, "target": target_text,
            "measured": value_fmt.format(value), "value": value,
            "result": "PASS" if ok else "FAIL"}


def compute_checks(records: list[dict], rss: list[dict]) -> list[dict]:
    """The project's performance targets, one row per (target, size)."""
    by = {(r["case"], r["size"]): r for r in records if r.get("status") == "ok"}
    sizes = sorted({r["size"] for r in records})
    rows = []

    def ips(case, size):
        return _median(by.get((case, size)), "images_per_s")

    def cpu(case, size):  # steady state, like images/s
        return _median(by.get((case, size)), "steady_cpu_s_per_1000")

    def ratio(a, b):
        return a / b if a and b else None

    for size in sizes:
        small = size <= 187  # targets are given at 150 and 224
        legacy = ips(BASELINE, size)
        v = ratio(ips("tfdirpipe_default", size), legacy)
        rows.append(_target_row("default vs legacy", size, ">= 1.8x", v, v is not None and v >= 1.8))
        need = 2.8 if small else 2.5
        v = ratio(ips("tfdirpipe_fast", size), legacy)
        rows.append(_target_row("fast vs legacy", size, f">= {need}x", v, v is not None and v >= need))
        v = ratio(ips("tfdirpipe_fast", size), ips("handwritten_dct", size))
        rows.append(_target_row("fast vs handwritten_dct", size, ">= 0.95x", v, v is not None and v >= 0.95))
        need = 12.0 if small else 8.0
        v = ratio(ips("tfdirpipe_cached_epoch2", size), legacy)
        rows.append(_target_row("cached epoch 2 vs legacy", size, f">= {need:g}x", v, v is not None and v >= need))
        v = ratio(cpu("tfdirpipe_fast", size), cpu(BASELINE, size))
        rows.append(_target_row("fast CPU-s/1000 (steady) vs legacy", size, "<= 0.70x", v,
                                v is not None and v <= 0.70))
        # "Never slower than image_dataset_from_directory at equal work": our
        # drop-in with the same arguments, and fast mode (less work per image).
        for case, name in (("tfdirpipe_idfd", "idfd (equal work)"), ("tfdirpipe_fast", "fast")):
            v = ratio(ips(case, size), ips("keras_idfd", size))
            rows.append(_target_row(f"{name} vs keras_idfd", size, ">= 1.00x", v,
                                    v is not None and v >= 1.0))
        v = ratio(ips("tfdirpipe_default", size), ips("keras_idfd", size))
        row = _target_row("default vs keras_idfd (more work: Pillow-exact)", size, "info", v, True)
        if v is not None:
            row["result"] = "INFO"
        rows.append(row)
    for entry in rss:
        peaks = entry.get("peak_rss_mb") or []
        name = f"{entry['case']} RSS flat N->2N"
        target = f"delta <= max({RSS_FLAT_ABS_MB:g} MiB, {RSS_FLAT_REL:.0%})"
        if len(peaks) < 2 or None in peaks:
            why = "; ".join(short_error(e) for e in entry.get("errors") or []) or "not measured"
            rows.append(_target_row(name, entry["size"], target, None, False, missing=why))
            continue
        delta = peaks[-1] - peaks[0]
        allowed = max(RSS_FLAT_ABS_MB, RSS_FLAT_REL * peaks[0])
        entry["delta_mb"] = delta
        entry["flat"] = delta <= allowed
        rows.append(_target_row(name, entry["size"], target, delta, entry["flat"], value_fmt="{:+.0f} MiB"))
    return rows


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def short_error(text: str, limit: int = 200) -> str:
    """One line for a table: the exception type and its last message line."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    short = lines[0] if len(lines) == 1 else f"{lines[0].split(':', 1)[0]}: {lines[-1]}"
    short = " ".join(short.split()).replace("|", "/")
    return short if len(short) <= limit else short[: limit - 1] + "…"


def _fmt(v, spec=".0f", none="-"):
    return none if v is None else format(v, spec)


def _range_text(stat: dict | None, spec: str) -> str:
    if not stat:
        return "-"
    return f"{stat['median']:{spec}} [{stat['min']:{spec}}–{stat['max']:{spec}}]"


def _med(summary: dict, metric: str) -> float | None:
    stat = summary.get(metric)
    return stat["median"] if stat else None


def pipeline_table(records: list[dict]) -> str:
    lines = [
        "| case | size | images/s median [min–max] | vs legacy (model.fit) | vs it[i] loop "
        "| first batch s | CPU-s / 1000 img steady (epoch) | peak RSS MiB | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rec in records:
        s = rec.get("summary", {})
        if rec.get("status") != "ok":
            note = f"{rec.get('status', 'unavailable')}: {short_error(rec.get('error', ''))}"
            lines.append(f"| {rec['case']} | {rec['size']} | - | - | - | - | - | - | {note} |")
            continue
        notes = [*rec.get("sanity", [])]
        if rec.get("runs") and any(r["batches"] != r["expected_batches"] for r in rec["runs"]):
            notes.append("short epoch")
        fb = s.get("first_batch_s")
        lines.append(
            f"| {rec['case']} | {rec['size']} | {_range_text(s.get('images_per_s'), '.0f')} | "
            f"{_fmt(rec.get('vs_legacy'), '.2f')}x | {_fmt(rec.get('vs_index_loop'), '.2f')}x | "
            f"{_fmt(fb and fb['median'], '.3f')} | "
            f"{_fmt(_med(s, 'steady_cpu_s_per_1000'), '.2f')} ({_fmt(_med(s, 'cpu_s_per_1000'), '.2f')}) | "
            f"{_fmt(rec.get('peak_rss_mb'), '.0f')} | {'; '.join(notes).replace('|', '/')[:160]} |"
        )
    return "\n".join(lines)


def e2e_table(records: list[dict]) -> str:
    lines = [
        "| case | size | steps/s median [min–max] | images/s | vs legacy | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for rec in records:
        s = rec.get("summary", {})
        if rec.get("status") != "ok":
            note = f"{rec.get('status')}: {short_error(rec.get('error', ''))}"
            lines.append(f"| {rec['case']} | {rec['size']} | - | - | - | {note} |")
            continue
        ips = s.get("images_per_s")
        lines.append(
            f"| {rec['case']} | {rec['size']} | {_range_text(s.get('steps_per_s'), '.2f')} | "
            f"{_fmt(ips and ips['median'], '.0f')} | {_fmt(rec.get('vs_legacy'), '.2f')}x | |"
        )
    return "\n".join(lines)


def rss_table(rss: list[dict]) -> str:
    lines = ["| case | size | images | peak RSS MiB | delta | flat |", "|---|---:|---|---|---:|---|"]
    for e in rss:
        peaks = e.get("peak_rss_mb") or []
        lines.append(
            f"| {e['case']} | {e['size']} | {' -> '.join(map(str, e.get('num_images', [])))} | "
            f"{' -> '.join(_fmt(p, '.0f') for p in peaks)} | {_fmt(e.get('delta_mb'), '+.0f')} | "
            f"{'yes' if e.get('flat') else ('no' if 'flat' in e else '-')} |"
        )
    return "\n".join(lines)


def checks_table(checks: list[dict]) -> str:
    lines = ["| target | size | wanted | measured | result |", "|---|---:|---|---:|---|"]
    for c in checks:
        measured = c["measured"] if c["measured"] is not None else f"({short_error(c.get('why', ''), 90)})"
        lines.append(f"| {c['check']} | {c['size']} | {c['target']} | {measured} | {c['result']} |")
    return "\n".join(lines)


def markdown_report(payload: dict) -> str:
    m = payload["meta"]
    cfg = payload["config"]
    ds = payload.get("dataset", {})
    parts = [
        "# tfdirpipe input-pipeline benchmark",
        "",
        f"- date: {m['date_utc']}; commit {m['git_commit']}{' (dirty)' if m.get('git_dirty') else ''}",
        f"- TensorFlow {m['tensorflow']}, Keras {m['keras']}, tfdirpipe {m['tfdirpipe']}, Python {m['python']}",
        f"- CPU: {m['cpu_model']} x {m['cpu_count']} (affinity {m['cpu_affinity']}); GPU: {m['gpu']}; "
        f"load average at start {m.get('load_avg_at_start')}, at end {m.get('load_avg_at_end')}",
        f"- data: {ds.get('num_images')} images, {ds.get('num_classes')} classes, "
        f"mean {ds.get('mean_kb')} KB" + (
            f", mean {ds.get('mean_width')}x{ds.get('mean_height')} px" if ds.get("mean_width") else ""
        ) + f" ({ds.get('path')})",
        f"- batch {cfg['batch_size']}, float32, rescale 1/255, categorical; {cfg['repeats']} interleaved "
        f"repeats after {cfg['warmup_batches']} warm-up batches; images/s is steady state "
        "(first batch excluded); CPU-s is process CPU (all threads), steady state and, in "
        "brackets, over the whole epoch including its start-up",
    ]
    if payload.get("pipeline"):
        parts += ["", "## Input pipelines", "", pipeline_table(payload["pipeline"])]
    if payload.get("e2e"):
        parts += ["", "## End-to-end model.fit (small CNN)", "", e2e_table(payload["e2e"])]
    if payload.get("rss_flat"):
        parts += ["", "## Streaming RSS as the dataset doubles", "", rss_table(payload["rss_flat"])]
    if payload.get("quality"):
        from benchmarks import quality

        parts += ["", "## Fast-mode pixels against the Keras-exact path (PSNR)", "",
                  quality.markdown(payload["quality"])]
    if payload.get("checks"):
        parts += ["", "## Targets (informational; `--strict` turns a FAIL into exit code 1)", "",
                  checks_table(payload["checks"])]
    return "\n".join(parts) + "\n"


def write_chart(path: Path, payload: dict) -> None:
    """Bar chart: images/s and CPU-s/1000 per case and size (+ e2e steps/s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    records = [r for r in payload["pipeline"] if r.get("summary", {}).get("images_per_s")]
    e2e = [r for r in payload.get("e2e", []) if r.get("summary", {}).get("steps_per_s")]
    panels = [("images_per_s", "images/s (steady state)", records),
              ("steady_cpu_s_per_1000", "CPU-seconds per 1000 images (steady state)", records)]
    if e2e:
        panels.append(("steps_per_s", "model.fit steps/s", e2e))
    panels = [p for p in panels if p[2]]
    if not panels:
        panels = [("images_per_s", "no results", [])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.6 * len(panels)), squeeze=False)
    for ax, (metric, title, recs) in zip(axes[:, 0], panels):
        cases = list(dict.fromkeys(r["case"] for r in recs))
        sizes = sorted({r["size"] for r in recs})
        width = 0.8 / max(len(sizes), 1)
        x = np.arange(len(cases))
        for j, size in enumerate(sizes):
            med, lo, hi = [], [], []
            for c in cases:
                st = next((r["summary"].get(metric) for r in recs if r["case"] == c and r["size"] == size), None)
                med.append(st["median"] if st else 0)
                lo.append(st["median"] - st["min"] if st else 0)
                hi.append(st["max"] - st["median"] if st else 0)
            bars = ax.bar(x + (j - (len(sizes) - 1) / 2) * width, med, width, yerr=[lo, hi],
                          capsize=3, label=f"{size}px")
            ax.bar_label(bars, fmt="%.0f" if metric == "images_per_s" else "%.2f",
                         fontsize=7, padding=2)
        positive = [r["summary"][metric]["median"] for r in recs if r["summary"].get(metric)]
        positive = [v for v in positive if v > 0]
        if metric == "images_per_s" and positive and max(positive) > 20 * min(positive):
            ax.set_yscale("log")  # a cached epoch would flatten every other bar
        ax.set_xticks(x, cases, rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    m = payload["meta"]
    fig.suptitle(f"tfdirpipe benchmark — {m['cpu_model']} x{m['cpu_count']}, TF {m['tensorflow']}, "
                 f"{m['date_utc']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
