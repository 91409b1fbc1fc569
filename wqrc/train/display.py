"""What `wqrc finetune` shows while it trains: the schedule, a progress bar per epoch, one line
per epoch, and the result; the callbacks api.finetune takes (on_start, on_batch, on_epoch)."""
from __future__ import annotations

import contextlib

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from wqrc.display import log_console, print_line
from wqrc.train.recipes import schedule_lines


class FinetuneDisplay(contextlib.AbstractContextManager):
    def __init__(self, cfg, scheme: str, recipe: str | None = None):
        self.cfg, self.scheme, self.recipe = cfg, scheme, recipe
        self.console = log_console()
        self.bar = Progress(TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
                            TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(), console=self.console)

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task("train", total=1, epoch=0, loss=0.0)
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def print(self, text: str) -> None:
        print_line(self.bar.console, text)

    @property
    def callbacks(self) -> dict:
        return dict(on_start=self.on_start, on_batch=self.on_batch, on_epoch=self.on_epoch)

    def on_start(self, plan, acc_m, acc_init):
        cfg = self.cfg
        distill = (f", distilled from the float model (α {cfg.distill:g}, T {cfg.distill_temperature:g})"
                   if cfg.distill else "")
        self.print(f"{cfg.method}{f' (recipe {self.recipe})' if self.recipe else ''}{distill}, {self.scheme}, bits "
                   f"{[s.bits for s in plan.values()]}, a{cfg.act_bits}; on the validation slice "
                   f"({cfg.val_split:g} of the training split): float {acc_m:.2%}, direct quantization "
                   f"{acc_init:.2%}. Schedule:")
        for line in schedule_lines(cfg):
            self.print(line)

    def on_batch(self, epoch, b, n, loss):
        self.bar.update(self.task, completed=b, total=n, epoch=f"{epoch + 1}/{self.cfg.epochs}", loss=loss)

    def on_epoch(self, r):
        self.print(f"epoch {r['epoch']:>3}: loss {r['loss']:.4f} QR {r['qr']:.4f} WQR {r['wqr']:.5f} "
                   f"λ1 {r['lambda1']:g} λ2 {r['lambda2']:g} acc_tr {r['acc_tr']:.2%} val acc_M {r['acc_M']:.2%} "
                   f"acc_Mq {r['acc_Mq']:.2%} mean|W-Q(W)| {r['mean_distance']:.5f}"
                   + (f" relevelled {r['relevels']}" if r['relevels'] else ""))


def result_lines(res, cfg, output: str, base: str, data: str) -> list[str]:
    """The test accuracies of a FinetuneResult, which weights were kept and why, the files written
    (the checkpoint named), and the complete compile command."""
    h = res.history
    if h.best_epoch == 0:
        n = len(h.rows)
        kept = (f"none of the {n} epoch{'s' if n != 1 else ''} beat direct quantization on the validation slice: kept the "
                f"model's own weights (direct quantization)")
    else:
        kept = f"kept epoch {h.best_epoch} of {len(h.rows)} ({cfg.keep} on the validation slice)"
    files = [output, res.files.get("plan", base + ".plan.json"), res.files.get("log", base + ".log.csv")]
    ckpt = res.files.get("checkpoint", base + ".ckpt.pt")
    return [f"test: float {res.test_float:.2%}, direct {res.test_direct:.2%}, fine-tuned acc_Mq "
            f"{res.test_final:.2%} (Δacc {res.test_final - res.test_float:+.2%}); {kept}",
            f"wrote {', '.join(files)}; checkpoint {ckpt} (continue with --resume; delete it when done)",
            f"compile with: wqrc compile {output} --bits {files[1]} --act-bits {cfg.act_bits} "
            f"--exponent {cfg.exponent} --calib {data}"]
