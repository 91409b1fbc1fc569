"""The paper's Fig. 8 (accuracy and λ2·WQR over epochs) and Fig. 9 (weight histograms with levels)."""
from __future__ import annotations

import os


from wqrc.quant.plan import LayerSpec
from wqrc.quant.quantize import quantize_weights
from wqrc.quant.schemes import SCHEMES


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_training(rows: list, path: str, title: str = "") -> None:
    plt = _plt()
    ep = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key, label in (("acc_tr", "acc_tr (train)"), ("acc_M", "acc_M (float, validation slice)"),
                       ("acc_Mq", "acc_Mq (quantized, validation slice)")):
        ax.plot(ep, [100 * r[key] for r in rows], marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax2 = ax.twinx()
    ax2.plot(ep, [r["lambda2_wqr"] for r in rows], color="gray", ls="--", label="λ2·WQR")
    ax2.set_ylabel("λ2·WQR")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [l.get_label() for l in lines], fontsize=7, loc="center right")
    ax.set_title(title or "Fine-tuning (Fig. 8)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_histograms(snapshots: dict, plan: dict[str, LayerSpec], rule: str, path: str) -> None:
    plt = _plt()
    epochs = sorted(snapshots)
    layers = list(plan)
    fig, axes = plt.subplots(len(epochs), len(layers), figsize=(2.6 * len(layers), 1.8 * len(epochs)), dpi=110,
                             squeeze=False)
    for i, ep in enumerate(epochs):
        for j, name in enumerate(layers):
            w = snapshots[ep][name].ravel()
            ax = axes[i][j]
            ax.hist(w, bins=80, color="tab:blue", alpha=0.8)
            n1, _, _ = quantize_weights(name, w, plan[name], rule)
            for lv in SCHEMES[plan[name].scheme].levels(n1, plan[name].bits):
                ax.axvline(lv, color="red", lw=0.5)
            ax.set_yticks([])
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(name, fontsize=8)
            if j == 0:
                ax.set_ylabel(f"epoch {ep}", fontsize=7)
    fig.suptitle("Weights during fine-tuning, quantization levels in red (Fig. 9)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(history, plan, rule: str, folder: str, title: str = "") -> list[str]:
    os.makedirs(folder, exist_ok=True)
    a, b = os.path.join(folder, "fig8_training.png"), os.path.join(folder, "fig9_histograms.png")
    plot_training(history.rows, a, title)
    plot_histograms(history.snapshots, plan, rule, b)
    return [a, b]
