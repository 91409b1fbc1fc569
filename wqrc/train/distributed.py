"""Data-parallel fine-tuning with PyTorch's DistributedDataParallel, in the processes torchrun starts.

    torchrun --nproc_per_node 2 -m wqrc finetune model.onnx --data fashion-mnist ... -o tuned.onnx

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; every process runs the
same command. Each global batch (``--batch`` samples, drawn and augmented from the one seeded
generator every process holds, so all draw alike) is split across the processes, sample k to
process k mod N; each weights its loss by its share, so DDP's average of the gradients is the
gradient of the global batch: a run equals a single-process run of the same global batch up to
floating-point summation order. Rank 0 alone scores, checkpoints, prints and writes outputs;
what the others need of its scoring (the activation grid of activation-aware training) it
broadcasts. gloo on CPU, nccl on GPU (one device per process, LOCAL_RANK).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    backend: str = ""

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1

    def describe(self) -> str:
        return f"data-parallel over {self.size} processes ({self.backend})"


def join(device: torch.device) -> tuple[World, torch.device]:
    """The data-parallel world this process belongs to (one process without torchrun), and the
    device it trains on (its own GPU under nccl). Joining twice returns the same world."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), dist.get_backend()), device


def share(n: int, world: World) -> slice:
    """This process's part of a global batch of ``n`` samples: every N-th from its rank."""
    return slice(world.rank, n, world.size)


def sum_all(values: list[float], world: World) -> list[float]:
    """``values`` summed over the processes (float64)."""
    if not world.parallel:
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def from_main(obj, world: World):
    """Rank 0's ``obj`` in every process."""
    if not world.parallel:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def leave(world: World) -> None:
    """Wait for every process, then end the group (at the end of a run)."""
    if world.parallel:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
