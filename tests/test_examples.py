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


CONVERGED = os.path.join(ROOT, "examples", "fashion_allconv.onnx")


def test_converged_baseline_is_all_conv_and_its_log_says_converged():
    """examples/fashion_mnist/train_converged.py's model: All-CNN-C's plan with BatchNorm folded, and the
    training record checked in beside it (validation accuracy flat for the last 5 epochs, test >= 92.5%)."""
    import json
    g = wqrc.load_model(CONVERGED)
    convs = [n for n in g.nodes if n.op == "conv"]
    assert [tuple(n.weight.shape[2:]) for n in convs] == [(3, 3)] * 5 + [(1, 1)] * 2
    assert [tuple(n.attrs["strides"]) for n in convs] == [(1, 1), (2, 2), (1, 1), (2, 2)] + [(1, 1)] * 3
    assert not [n for n in g.nodes if n.op == "batchnorm"] and not [n for n in g.nodes if n.op == "maxpool"]
    with open(os.path.splitext(CONVERGED)[0] + ".train.json") as fh:
        record = json.load(fh)
    last = [r["acc_val"] for r in record["log"][-5:]]
    assert record["converged"] and max(last) - min(last) <= 0.003 and record["test_accuracy"] >= 0.925
    assert "train_converged.py" in record["command"]


@needs.fashion
def test_converged_baseline_test_accuracy_as_recorded():
    import json
    ds = load_dataset("fashion-mnist")
    with open(os.path.splitext(CONVERGED)[0] + ".train.json") as fh:
        recorded = json.load(fh)["test_accuracy"]
    acc = accuracy(run_float(wqrc.load_model(CONVERGED), ds.x_test), ds.y_test)
    assert abs(acc - recorded) <= 0.0005 and acc >= 0.925, (acc, recorded)
