"""What `wqrc lps` and `wqrc compile --bits auto` show while a greedy or ranked search runs: one
progress bar with the best step so far (wqrc/train/display.py is fine-tuning's counterpart)."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def search_bar(graph, start_bits: str, min_bits: int):
    """A progress bar for a greedy or ranked search; yields its ``progress(step, evaluations)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from wqrc.quant.plan import parse_bits

    start = parse_bits(start_bits)
    top = max(start) if isinstance(start, list) else 8
    total = max(1, len(graph.weighted_nodes()) * (top - min_bits))
    with Progress(TextColumn("[bold]lps"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[best]}"), TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("search", total=total, best="")
        steps: list = []

        def progress(step, evaluations):
            steps.append(step)
            bar.update(task, completed=min(total, len(steps) - 1),
                       best=f"CR {step.compression_ratio:.2f}, dacc {step.delta_acc:+.4f}, "
                            f"bits {list(step.bits.values())}, {evaluations} evals")

        yield progress
        bar.update(task, completed=total)
