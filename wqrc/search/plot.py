"""The paper's Fig. 6: accuracy against compression ratio, search path and equal bit-widths."""
from __future__ import annotations

from wqrc.search.lps import SearchResult, Step


def plot_search(result: SearchResult, equal: list[Step], path: str, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    ax.plot([s.compression_ratio for s in result.steps], [100 * s.accuracy for s in result.steps], "o-",
            label=f"layer-wise search ({result.scheme}, {result.criterion})", ms=3)
    ax.plot([s.compression_ratio for s in equal], [100 * s.accuracy for s in equal], "s--",
            label=f"equal bit-widths ({result.scheme})", ms=4)
    for s in equal:
        ax.annotate(f"{next(iter(s.bits.values()))}b", (s.compression_ratio, 100 * s.accuracy),
                    textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.axhline(100 * result.float_accuracy, color="gray", lw=0.8, label="float")
    ax.axhline(100 * (result.float_accuracy - result.max_drop), color="red", lw=0.8, ls=":",
               label=f"float - max drop ({result.max_drop:g})")
    ax.set_xlabel("compression ratio CR = 32 * weights / W_mem")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title or "Layer-wise precision scaling")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
