"""Sketchback: sketch inversion (pencil sketch -> photo) as a reproducible study."""

import os

# TensorFlow turns its oneDNN CPU kernels on by default only on some CPUs; it left them off on this
# project's AVX2 machines, where they made a training step 1.5-1.7x faster (benchmarks/train_speed.py).
# So Sketchback asks for them, unless TF_ENABLE_ONEDNN_OPTS is already set (0 turns them off).
# TensorFlow reads the variable when it is first imported: import sketchback before keras/tensorflow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
