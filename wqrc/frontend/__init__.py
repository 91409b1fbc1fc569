"""Frontends: ONNX files, torch modules and TorchScript files -> float Graph."""
