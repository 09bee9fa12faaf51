"""Evaluation: the metrics, scoring each model on each test set and style, the figures, the
ablation, and the report's tables (colour hints, normaliser, super-resolution, the original's
examples).

Imports anything below it, never tools."""
