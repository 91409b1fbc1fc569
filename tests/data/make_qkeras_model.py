"""Make tests/data/qkeras_cnn.onnx and qkeras_cnn_io.npz: a small QKeras CNN converted to QONNX by
qonnx's own converter, with QKeras's own outputs on a batch of inputs (the judge of the import).

    pip install "tensorflow-cpu==2.15.*" qkeras pyparsing "tf2onnx==1.16.1" "onnx==1.16.2" "qonnx==0.4.0"
    python tests/data/make_qkeras_model.py

(qonnx 1.0 dropped the Keras converters; TensorFlow 2.15 pins ml_dtypes 0.3, which the newest onnx
does not import with.) The quantizers are QKeras's power-of-two ones (alpha=1): 4-bit symmetric
weights, 8-bit biases, 4-bit unsigned ReLUs, an 8-bit input and output. Inputs are drawn on the
input quantizer's grid, so that the host's float-to-code rounding (not a hardware step) plays no part.
"""
import os

import numpy as np
import tensorflow as tf
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu
from qonnx.converters import from_keras

HERE = os.path.dirname(os.path.abspath(__file__))


def build() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(0)
    w4, b8 = quantized_bits(4, 0, alpha=1), quantized_bits(8, 3, alpha=1)
    x = tf.keras.Input((8, 8, 1), name="x")
    h = QActivation(quantized_bits(8, 0, alpha=1), name="q_in")(x)
    h = QConv2D(6, 3, padding="same", kernel_quantizer=w4, bias_quantizer=b8, name="conv1")(h)
    h = QActivation(quantized_relu(4, 2), name="relu1")(h)
    h = tf.keras.layers.MaxPooling2D(2, name="pool")(h)
    h = QConv2D(8, 3, padding="same", kernel_quantizer=w4, bias_quantizer=b8, name="conv2")(h)
    h = QActivation(quantized_relu(4, 2), name="relu2")(h)
    h = tf.keras.layers.Flatten(name="flat")(h)
    h = QDense(10, kernel_quantizer=w4, bias_quantizer=b8, name="fc")(h)
    y = QActivation(quantized_bits(8, 4, alpha=1), name="q_out")(h)
    model = tf.keras.Model(x, y)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # weights large enough to use the 4-bit range, biases nonzero
        if layer.get_weights():
            k, b = layer.get_weights()
            layer.set_weights([rng.uniform(-1, 1, k.shape).astype(np.float32),
                               rng.uniform(-0.5, 0.5, b.shape).astype(np.float32)])
    return model


def main() -> None:
    model = build()
    onnx_model, _ = from_keras(model, name="qkeras_cnn", opset=13)
    with open(os.path.join(HERE, "qkeras_cnn.onnx"), "wb") as fh:
        fh.write(onnx_model.SerializeToString())
    rng = np.random.default_rng(1)
    x = (rng.integers(-128, 128, (32, 8, 8, 1)) / 128.0).astype(np.float32)  # on the 8-bit input grid
    y = model.predict(x, verbose=0)
    np.savez(os.path.join(HERE, "qkeras_cnn_io.npz"), x=x, y=y)
    print("wrote qkeras_cnn.onnx and qkeras_cnn_io.npz:", x.shape, "->", y.shape)


if __name__ == "__main__":
    main()
