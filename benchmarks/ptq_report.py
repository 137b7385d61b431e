"""Markdown report of `benchmarks/ptq.py`: the table, the summary against twins and FX, and
the per-model diagnosis (what stays float, what is not fused, what fails and where)."""

from __future__ import annotations

import re
import statistics

VARIANTS = ("prepared", "prepared+unsafe", "twin", "fx")
TWIN_MARGIN_DB = 1.0  # issue 9's "Done means": within 1 dB of the twin, or better


def short_error(record: dict) -> str:
    error = record.get("error") or "?"
    op = re.search(r"Could not run '([^']+)'", error)
    if op:
        return f"{op.group(1)} on {'quantized' if 'QuantizedCPU' in error else 'float'} input"
    return error if len(error) <= 70 else error[:67] + "..."


def _first(error: str, limit: int = 150) -> str:
    """The error up to the end of its first sentence (torch's dispatch errors run on)."""
    head = error.split(". ", 1)[0]
    return head if len(head) <= limit else head[:limit - 3] + "..."


def cell(record: dict | None) -> str:
    if record is None:
        return "-"
    if not record.get("ok"):
        return f"FAIL: {short_error(record)}"
    ratio = record.get("latency_ratio")
    return f"{record['sqnr_db']:.1f} dB, {ratio:.2f}x" if ratio else f"{record['sqnr_db']:.1f} dB"


def _ok(results: dict, variant: str) -> dict:
    return {m: r[variant] for m, r in results.items() if variant in r and r[variant].get("ok")}


def summary(specs: list[dict], results: dict) -> list[str]:
    lines = ["| variant | PTQ runs | median SQNR (dB) | median latency q/f |", "|---|---|---|---|"]
    for variant in VARIANTS:
        tried = [m for m, r in results.items() if variant in r]
        ok = _ok(results, variant)
        if not tried:
            continue
        sq = statistics.median(r["sqnr_db"] for r in ok.values()) if ok else float("nan")
        lat = [r["latency_ratio"] for r in ok.values() if r.get("latency_ratio")]
        lines.append(f"| {variant} | {len(ok)}/{len(tried)} | {sq:.1f} | "
                     f"{statistics.median(lat):.2f}x |" if lat else f"| {variant} | {len(ok)}/{len(tried)} | {sq:.1f} | - |")
    lines.append("")
    twins = [s["name"] for s in specs if s.get("twin")]
    for variant in ("prepared", "prepared+unsafe"):
        if twins:
            rows = []
            for name in twins:
                ours, twin = results[name].get(variant, {}), results[name].get("twin", {})
                if ours.get("ok") and twin.get("ok"):
                    gap = ours["sqnr_db"] - twin["sqnr_db"]
                    rows.append((name, f"{gap:+.1f} dB", gap >= -TWIN_MARGIN_DB))
                else:
                    rows.append((name, "prepared fails" if not ours.get("ok") else "twin fails", False))
            met = sum(1 for *_, good in rows if good)
            lines.append(f"- **{variant} vs twin** (SQNR difference; goal: >= -{TWIN_MARGIN_DB:.0f} dB): "
                         f"{met}/{len(rows)} meet it: " + ", ".join(f"{n} {g}" for n, g, _ in rows))
        ours, fx = _ok(results, variant), _ok(results, "fx")
        both = sorted(set(ours) & set(fx))
        if both:
            med_ours = statistics.median(ours[m]["sqnr_db"] for m in both)
            med_fx = statistics.median(fx[m]["sqnr_db"] for m in both)
            lines.append(f"- **{variant} vs fx** on the {len(both)} models both quantize: median SQNR "
                         f"{med_ours:.1f} dB vs {med_fx:.1f} dB")
        only_ours = sorted(set(ours) - set(fx))
        only_fx = sorted(set(fx) - set(ours))
        lines.append(f"- {variant} quantizes where fx cannot: {', '.join(only_ours) or 'none'}; "
                     f"fx where {variant} cannot: {', '.join(only_fx) or 'none'}")
    return lines


def _anatomy(record: dict) -> str:
    a = record.get("anatomy") or {}
    parts = [f"int8 ops {a.get('int8', 0)} (fused {a.get('fused', 0)})"]
    if a.get("unfused_bn"):
        parts.append(f"unfused BN {a['unfused_bn']}")
    islands = max(a.get("dequantize", 0) - 1, 0) if record.get("variant") != "fx" else a.get("dequantize", 0)
    if islands:
        parts.append(f"{'dequantize nodes' if record.get('variant') == 'fx' else 'float islands'} {islands}")
    if a.get("unconverted"):
        parts.append("unconverted modules " + ", ".join(f"{k} x{v}" for k, v in a["unconverted"].items()))
    return "; ".join(parts)


def diagnosis(name: str, variants: dict) -> list[str]:
    lines = [f"**{name}**" + (f" (source files: {', '.join(variants['float'].get('files', []))})"
                              if variants.get("float", {}).get("files") else "")]
    for variant in VARIANTS:
        record = variants.get(variant)
        if record is None:
            continue
        if record.get("ok"):
            text = f"{record['sqnr_db']:.1f} dB; {_anatomy(record)}"
            if record.get("float_max_diff", 0) > 1e-4:
                text += (f"; its float output differs from the original's by up to {record['float_max_diff']:.2e}"
                         f" (SQNR against the original float: {record['sqnr_vs_original_db']:.1f} dB)")
        else:
            text = f"fails at {record.get('step')}: {_first(record.get('error') or '?')}"
            if record.get("module"):
                text += f"; in {record['module']}"
            if record.get("line"):
                text += f" at {record['line']}"
        unfused = record.get("unfused_after_fuse_model")
        if unfused:
            head = ", ".join(unfused[:4]) + (", ..." if len(unfused) > 4 else "")
            text += f"; BN left after fuse_model(): {len(unfused)} ({head})"
        elif variant.startswith("prepared") and "fuse_model" in record and not record["fuse_model"]:
            text += "; no fuse_model()"
        fix = record.get("fix")
        if fix:
            text += f"; fix applied {fix['fixed']}, left {len(fix['left'])}"
            if fix["left"] and not (variant == "prepared+unsafe" and record.get("note")):
                text += " (" + ", ".join(f"{k} x{n}" for k, n in _left_by_rule(fix["left"])) + ")"
        if record.get("note"):
            text += f" ({record['note']})"
        lines.append(f"- {variant}: {text}")
    lines += _gaps(variants)
    return lines


def _gaps(variants: dict) -> list[str]:
    """prepared against the twin (else FX): SQNR, standing BatchNorms, fused ops, latency."""
    ours = variants.get("prepared+unsafe") or {}
    other = next((variants[v] for v in ("twin", "fx") if variants.get(v, {}).get("ok")), None)
    if not (ours.get("ok") and other):
        return []
    a, b = ours.get("anatomy", {}), other.get("anatomy", {})
    return [f"- gap prepared+unsafe vs {other['variant']}: SQNR {ours['sqnr_db'] - other['sqnr_db']:+.1f} dB; "
            f"BN standing {a.get('unfused_bn', 0)} vs {b.get('unfused_bn', 0)}; fused ops {a.get('fused', 0)} vs "
            f"{b.get('fused', 0)}; int8 ops {a.get('int8', 0)} vs {b.get('int8', 0)}; latency "
            f"{ours['latency_ratio']:.2f}x vs {other['latency_ratio']:.2f}x"]


def _left_by_rule(left: list[str]) -> list[tuple[str, int]]:
    """Findings the fix left, counted by file and what (`misc.py: '*'`, `norm.py: F.layer_norm`)."""
    counts: dict[str, int] = {}
    for line in left:
        match = re.match(r"(\S+?\.py):\d+:\d+: W\d+ (?:Tensor operator |Tensor method )?(\S+)", line)
        key = f"{match.group(1).rsplit('/', 1)[-1]}: {match.group(2)}" if match else line[:40]
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: -kv[1])


def render(specs: list[dict], results: dict, meta: dict) -> str:
    out = ["## PTQ quality: prepared code vs torchvision's Quantizable twins vs FX", "",
           f"`{meta['command']}`: torch {meta['torch']}, one thread, {meta['calibration_batches']} calibration "
           f"and {meta['evaluation_batches']} held-out batches, latency = median of {meta['rounds']} rounds; "
           f"seed {meta['seed']}; {meta['date_utc']} UTC, {meta['elapsed_s']} s, "
           f"load average {meta['load_average'][0]:.1f}.", "",
           "SQNR of the int8 output against the float output (dB, higher is better), and quantized latency "
           "over float latency (lower is faster).", "",
           "| model | input | " + " | ".join(VARIANTS) + " |", "|---|---|" + "---|" * len(VARIANTS)]
    for spec in specs:
        variants = results[spec["name"]]
        size = f"{spec['batch']}x3x{spec['size']}x{spec['size']}" if "size" in spec else "example_inputs()"
        out.append(f"| {spec['name']} | {size} | " + " | ".join(cell(variants.get(v)) for v in VARIANTS) + " |")
    out += ["", "### Summary", "", *summary(specs, results), "", "### Diagnosis", ""]
    for spec in specs:
        out += diagnosis(spec["name"], results[spec["name"]]) + [""]
    return "\n".join(out)
