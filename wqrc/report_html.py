"""OUT/report.html: the compile's report as one self-contained page (no script, no network).

It shows what report.json holds (the per-layer table, W_mem per layer, accuracy when data was
given, the C, HLS and RTL figures) and one thing the JSON leaves out: each layer's weight
histogram over the level set its scheme and bit-width allow, so a user sees at a glance which
levels are used, how many weights sit at zero, and where a narrower width would clip. Charts are
inline SVG drawn by the template; every name is HTML-escaped (Jinja autoescape)."""
from __future__ import annotations

import jinja2
import numpy as np

from wqrc.quant.qmodel import QModel
from wqrc.quant.schemes import SCHEMES

MAX_BARS = 64   # wider level sets (DFP beyond 6 bits) are shown in this many bins


def level_histogram(layer) -> dict:
    """Counts of the layer's weights per level of its set (multipliers, in units of 2**exponent),
    binned to MAX_BARS bars when the set is larger; ``levels`` is the size of the set."""
    sch = SCHEMES[layer.scheme]
    levels = np.unique(np.asarray(sch.decode(np.arange(1 << layer.bits), layer.bits), dtype=np.float64))
    mult = np.asarray(layer.multipliers, dtype=np.float64).ravel()
    if len(levels) <= MAX_BARS:
        counts = [int(np.count_nonzero(mult == v)) for v in levels]
        bars = [dict(label=f"{v:g}", count=c, zero=bool(v == 0)) for v, c in zip(levels, counts)]
    else:
        edges = np.linspace(levels[0], levels[-1], MAX_BARS + 1)
        counts, _ = np.histogram(mult, bins=edges)
        bars = [dict(label=f"{lo:g}..{hi:g}", count=int(c), zero=bool(lo <= 0 <= hi))
                for lo, hi, c in zip(edges[:-1], edges[1:], counts)]
    used = int(np.unique(mult).size)
    return dict(bars=bars, levels=len(levels), used=used, top=max(1, max(b["count"] for b in bars)),
                lo=f"{levels[0]:g}", hi=f"{levels[-1]:g}")


def render_html(report: dict, qm: QModel, source: str = "") -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("wqrc.templates", "report"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    hists = {layer.name: level_histogram(layer) for _, layer in qm.weighted()}
    top_wmem = max([1] + [r["w_mem_bits"] for r in report["layers"]])
    return env.get_template("report.html.j2").render(rep=report, hists=hists, top_wmem=top_wmem, source=source)
