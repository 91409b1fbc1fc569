"""Built-in datasets load with the documented shapes and splits."""
import numpy as np

from wqrc.data import load_dataset

import needs


def test_digits_and_padded_digits():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and len(d.y_test) == 360 and d.x_train.max() == 1.0
    p = load_dataset("digits-padded")
    assert p.x_test.shape[1:] == (1, 12, 12) and np.array_equal(p.x_test[:, :, 2:-2, 2:-2], d.x_test)
    xf, yf, xv, yv = d.validation_split(0.25)
    assert len(xv) + len(xf) == len(d.x_train) and len(xv) == round(0.25 * len(d.x_train))


@needs.fashion
def test_fashion_mnist_from_debian_package():
    d = load_dataset("fashion-mnist")
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.num_classes == 10 and 0.0 <= d.x_train.min() and d.x_train.max() == 1.0
