"""Code backends: QModel + ROM -> C (MCUs) and HLS C++ (FPGAs)."""
