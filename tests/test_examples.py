"""The checked-in reference network of the paper reproduction (docs/results.md)."""
import os

import numpy as np

import wqrc
from wqrc.data import accuracy, load_dataset
from wqrc.ir.to_torch import run_float

import needs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALLCNN = os.path.join(ROOT, "examples", "allcnn_c.onnx")


def test_allcnn_c_has_table_iii_layout():
    g = wqrc.load_model(ALLCNN)
    convs = [n for n in g.nodes if n.op == "conv"]
    assert [tuple(n.weight.shape[2:]) for n in convs] == [(3, 3)] * 7 + [(1, 1)] * 2
    assert [tuple(n.attrs["strides"]) for n in convs] == [(1, 1)] * 2 + [(2, 2)] + [(1, 1)] * 2 + [(2, 2)] + [(1, 1)] * 3
    assert convs[-1].weight.shape[0] == 10 and g.nodes[-1].op in ("global_avgpool", "flatten")
    assert os.path.getsize(ALLCNN) < 4 * 2 ** 20


@needs.fashion
def test_allcnn_c_accuracy_on_held_out_test_images():
    # docs/results.md reports the float model on all 10,000 test images; a seeded slice here
    ds = load_dataset("fashion-mnist")
    idx = np.random.default_rng(0).choice(len(ds.x_test), 1000, replace=False)
    acc = accuracy(run_float(wqrc.load_model(ALLCNN), ds.x_test[idx]), ds.y_test[idx])
    assert acc > 0.86, acc
