"""Sketchback: sketch inversion (pencil sketch -> photo) as a reproducible study."""

__version__ = "0.1.0"
