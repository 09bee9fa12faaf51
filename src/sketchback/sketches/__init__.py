"""Sketches: the simulated sketch styles (XDoG, style transfer, ...), the ZuBuD augmentation, the
normaliser that brings a drawing toward the training style, and colour hints.

Imports the package root and data only."""
