"""Knowledge distillation from the float model: the quantized network learns the float one's soft outputs.

Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015); used for
quantized students by Polino, Pascanu and Alistarh, "Model compression via distillation and
quantization" (ICLR 2018) and Mishra and Marr, "Apprentice" (ICLR 2018). The teacher is the
float model fine-tuning starts from, frozen: its class probabilities carry what the hard
labels do not (which wrong classes are near), and a quantized student that matches them keeps
the float model's decisions rather than re-learning them from labels alone.

    loss = (1 - α) · CE(student, labels) + α · T² · KL(softmax(teacher / T) ‖ softmax(student / T))

T² keeps the soft term's gradients at the hard term's scale as T grows (Hinton et al. §2).
α = 0 is plain cross-entropy, the same loss bit for bit.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from wqrc.ir.to_torch import GraphModule

DEFAULT_TEMPERATURE = 4.0


def task_loss(logits: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor | None,
              alpha: float, temperature: float = DEFAULT_TEMPERATURE) -> torch.Tensor:
    """The loss the training step minimizes before any regularizer: cross-entropy, blended with the
    teacher's softened outputs where ``teacher_logits`` is given and ``alpha`` > 0."""
    ce = F.cross_entropy(logits, labels)
    if teacher_logits is None or alpha == 0.0:
        return ce
    t = temperature
    soft = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1),
                    log_target=True, reduction="batchmean") * (t * t)
    return (1.0 - alpha) * ce + alpha * soft


def frozen_teacher(module: GraphModule) -> GraphModule:
    """A copy of ``module`` as it is now (the float model, before any step), in eval mode and with
    float activations: what the student is pulled toward for the whole budget. Frozen because no
    optimizer holds its parameters; the training step runs it under ``torch.no_grad``."""
    teacher = copy.deepcopy(module).eval()
    teacher.act_quant = {}
    return teacher
