"""Trained quantization: QR/WQR regularizers, schedules, the fine-tuning loop, plots."""
from wqrc.train.finetune import FinetuneConfig, finetune
from wqrc.train.regularizers import QuantRegularizer, qr_terms
from wqrc.train.schedule import parse_schedule

__all__ = ["FinetuneConfig", "QuantRegularizer", "finetune", "parse_schedule", "qr_terms"]
