"""What a PyTorch file holds, read from its zip listing and first pickle opcodes, without torch.

``torch.save`` and ``torch.jit.save`` both write zip archives, and users name
both ``.pt``/``.pth``. Only a TorchScript archive (it carries ``constants.pkl``
and the module's ``code/``) holds a network wqrc can run; a ``torch.save``
file holds a state_dict (weights without the network) or a pickled module
(which only unpickling, that is running its code, could rebuild). Telling them
apart here lets each get a one-line error that says what to do instead.
"""
from __future__ import annotations

import pickletools
import zipfile

TORCHSCRIPT, STATE_DICT, PICKLED_MODULE, UNKNOWN = "torchscript", "state_dict", "pickled_module", "unknown"

HOW_TO = ("export it to ONNX (torch.onnx.export(model, example, 'model.onnx')), save it as TorchScript "
          "(torch.jit.trace(model, example).save('model.pt')), or from Python call "
          "wqrc.from_torch(model, example) (docs/quickstart.md)")


def torch_file_kind(path: str) -> str:
    """TORCHSCRIPT, STATE_DICT (a dict of tensors, or a checkpoint dict), PICKLED_MODULE or UNKNOWN."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in names):
                return TORCHSCRIPT
            pkl = next((n for n in names if n.endswith("data.pkl")), None)
            head = z.open(pkl).read(4096) if pkl else b""
    except (OSError, zipfile.BadZipFile):
        return UNKNOWN
    return _pickle_kind(head)


def _pickle_kind(head: bytes) -> str:
    """The pickle's top object from its first opcodes: a dict (or OrderedDict) or some class."""
    try:
        for op, arg, _ in pickletools.genops(head):
            if op.name in ("EMPTY_DICT", "DICT"):
                return STATE_DICT
            if op.name in ("GLOBAL", "STACK_GLOBAL"):
                return STATE_DICT if arg == "collections OrderedDict" else PICKLED_MODULE
            if op.name in ("PROTO", "FRAME", "MARK"):
                continue
            return UNKNOWN
    except Exception:   # a pickle cut at 4 KiB ends mid-opcode: what was read decides
        pass
    return UNKNOWN


def explain(path: str, kind: str) -> str:
    """The one-line error for a PyTorch file wqrc cannot read as a network."""
    if kind == STATE_DICT:
        return f"{path}: a state_dict (weights without the network) cannot be compiled; load it into your module, then " + HOW_TO
    if kind == PICKLED_MODULE:
        return (f"{path}: a module saved with torch.save(model) is a pickle, which wqrc does not load (unpickling "
                f"runs code); " + HOW_TO)
    return f"{path}: not a TorchScript file; " + HOW_TO
