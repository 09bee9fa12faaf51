"""Sketch anti-roughing: bring a sketch drawn in another style toward the style a model was trained on.

Three steps, each switched on or off by a parameter (``NORMALISE_DEFAULTS``: the paper step only):

* **paper**: flat-field the paper. The paper's brightness is estimated by a grey closing (a max
  then min filter wider than any stroke, which removes the dark strokes) smoothed by a Gaussian;
  the sketch is divided by it, so a tinted, shaded or unevenly lit page becomes flat white and
  the strokes keep their darkness relative to the paper around them.
* **width**: thin or thicken the strokes toward the reference style's stroke width (a 3x3 grey
  dilation or erosion at twice the resolution per pixel of width, half a pixel on each side;
  fractions blend the two nearest whole steps).
* **contrast**: scale the strokes' darkness so that their typical darkness is the reference
  style's, on paper of the reference style's grey.

The reference style is a ``SketchStyle`` (paper grey, stroke darkness, stroke width) measured from
sketches of the training style by ``measure_style``: in the workflow, the training-split sketches
of the test set in ``normalise.reference`` (pencil), never the test images. Everything is a
deterministic function of the sketch, the reference statistics and the parameters (no random
choices). ``normalise_shard`` is the workflow's entry point.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from sketchback.io import atomic_path, load_npz, save_npz

log = logging.getLogger(__name__)

# Darkness (1 - grey / paper) above which a pixel counts as marked; below it is paper grain,
# JPEG noise or the faint halo of the colour dodge.
MARK = 0.1
# The strokes' darkness: this percentile of the marked pixels' darkness (their cores, not their
# anti-aliased edges, and robust to a few black specks).
INK_PERCENTILE = 90.0

# Only the paper step is on by default: on the demo it helps on neural-style sketches (+0.03 to
# +0.07 SSIM), gives the XDoG sketches back unchanged and costs 0.005 SSIM on pencil, while the
# contrast and width steps hurt as often as they help (README, "The cross-style matrix";
# benchmarks/normalise_steps.py).
NORMALISE_DEFAULTS: dict[str, object] = {
    "paper": True,  # flat-field the paper (remove its tone and uneven lighting)
    "contrast": False,  # scale the strokes' darkness to the reference's
    "width": False,  # thin or thicken the strokes toward the reference's width
    "background": 0.1,  # side of the paper-estimate window, as a fraction of the image's longer side
    "max_gain": 4.0,  # the contrast step scales darkness by at most this factor (or 1/this)
    "max_width_change": 3.0,  # the width step changes a stroke by at most this many pixels
}


@dataclass(frozen=True)
class SketchStyle:
    """What a sketch style looks like, in numbers.

    paper: grey level of the paper, 0..255.  ink: the strokes' darkness relative to the paper,
    0..1 (1 - grey / paper at the strokes' cores).  width: mean stroke width in pixels, at half
    the strokes' darkness.
    """

    paper: float
    ink: float
    width: float

    def as_dict(self) -> dict[str, float]:
        return {key: round(float(value), 4) for key, value in asdict(self).items()}


# --------------------------------------------------------------------------- measuring a style


def _darkness(grey: np.ndarray, paper: float) -> np.ndarray:
    """1 - grey / paper as float32, clipped to 0..1 (0 = paper, 1 = black)."""
    return np.clip(1.0 - grey.astype(np.float32) / np.float32(max(paper, 1.0)), 0.0, 1.0)


def _ink(darkness: np.ndarray) -> float | None:
    """The strokes' darkness (``INK_PERCENTILE`` of the marked pixels), or None for a blank page."""
    marked = darkness[darkness > MARK]
    return float(np.percentile(marked, INK_PERCENTILE)) if marked.size else None


def stroke_width(darkness: np.ndarray, ink: float) -> float:
    """Mean stroke width in pixels of a darkness map (float, 0..1), at half the ink darkness.

    width = 2 x area / perimeter of the marked region (a long stroke of width w and length L has
    area wL and perimeter 2L). The perimeter is the count of pixel edges between marked and
    unmarked pixels times pi/4, which undoes the staircase's overcount averaged over stroke
    directions (Crofton). Outside the image counts as paper. 0 for a blank page.
    """
    mask = (darkness >= max(ink / 2.0, MARK)).astype(np.int8)
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    edges = int(np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum())
    return 2.0 * area / (edges * math.pi / 4.0)


def sketch_stats(grey: np.ndarray) -> SketchStyle | None:
    """The ``SketchStyle`` of one uint8 grey sketch (H, W), or None for a blank page.

    paper: the 90th percentile of the grey levels (sketches are mostly paper).
    """
    grey = _check_grey(grey)
    paper = float(np.percentile(grey, 90.0))
    darkness = _darkness(grey, paper)
    ink = _ink(darkness)
    if ink is None:
        return None
    return SketchStyle(paper=paper, ink=ink, width=stroke_width(darkness, ink))


def measure_style(sketches: Iterable[np.ndarray]) -> SketchStyle:
    """The median ``SketchStyle`` of a set of uint8 grey sketches (an (N, H, W) array or a list of
    (H, W) arrays of any sizes); blank pages are left out. Raises ValueError when all are blank."""
    stats = [s for s in (sketch_stats(g) for g in sketches) if s is not None]
    if not stats:
        raise ValueError("cannot measure a sketch style: every reference sketch is blank (no marks darker "
                         f"than {MARK:.0%} below the paper)")
    return SketchStyle(*(float(np.median([getattr(s, f) for s in stats])) for f in ("paper", "ink", "width")))


def _check_grey(grey: np.ndarray, name: str = "sketch") -> np.ndarray:
    grey = np.asarray(grey)
    if grey.dtype != np.uint8 or grey.ndim != 2 or 0 in grey.shape:
        raise ValueError(f"{name} must be a uint8 grey image (H, W), got {grey.dtype} of shape {grey.shape}")
    return grey


def builtin_reference(size: int = 64, n_images: int = 32, seed: int = 0) -> SketchStyle:
    """The style of the demo's training sketches: pencil sketches (sketch.pencil's defaults) of
    ``n_images`` synthetic faces at ``size`` px, measured afresh (a few tens of ms). The target of
    ``sketchback normalise`` when no reference is given."""
    from sketchback.sketches.sketch import pencil_sketch
    from sketchback.data.synthetic import synthetic_image

    return measure_style(pencil_sketch(synthetic_image("faces", seed, i, size)) for i in range(n_images))


# --------------------------------------------------------------------------- normalising


def resolve_params(params: dict | None) -> dict[str, object]:
    """``NORMALISE_DEFAULTS`` overridden by ``params``, checked. Raises ValueError naming the key."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(NORMALISE_DEFAULTS))
    if unknown:
        raise ValueError(f"normalise.{unknown[0]}: unknown parameter (valid: {', '.join(NORMALISE_DEFAULTS)})")
    p = {**NORMALISE_DEFAULTS, **params}
    for key in ("paper", "contrast", "width"):
        if not isinstance(p[key], bool):
            raise ValueError(f"normalise.{key} must be true or false, got {p[key]!r}")
    for key, low, high in (("background", 0.0, 1.0), ("max_gain", 1.0, math.inf)):
        value = p[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
            raise ValueError(f"normalise.{key} must be a number in ({low}, {high}], got {value!r}")
    steps = p["max_width_change"]
    if isinstance(steps, bool) or not isinstance(steps, (int, float)) or not 0 <= steps < math.inf:
        raise ValueError(f"normalise.max_width_change must be a number >= 0, got {steps!r}")
    return p


def flat_paper(grey: np.ndarray, background: float) -> np.ndarray:
    """Darkness (float32, 0..1) of a uint8 grey sketch relative to its own paper, paper tone and
    uneven lighting removed: grey / paper estimate, the estimate a grey closing (removes strokes
    narrower than the window) with a square window of ``background`` x the longer side (odd, at
    least 3 px), smoothed by a Gaussian of half that width."""
    k = max(3, int(round(background * max(grey.shape))) | 1)
    closed = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    paper = cv2.GaussianBlur(closed.astype(np.float32), (0, 0), k / 2.0, borderType=cv2.BORDER_REFLECT)
    return np.clip(1.0 - grey.astype(np.float32) / np.maximum(paper, 1.0), 0.0, 1.0)


def change_width(darkness: np.ndarray, steps: float) -> np.ndarray:
    """Thicken (steps > 0) or thin (steps < 0) the strokes of a darkness map by about ``|steps|`` px.

    A whole step is a 3x3 grey dilation (erosion) at twice the resolution: half a pixel on each
    side. A fraction blends the two nearest whole steps (a partial step darkens or lightens the
    strokes' edges), so the change is continuous in ``steps``; under one step the map itself is
    one end of the blend (not its resampled copy, which would blur it), and 0 returns it unchanged.
    """
    if steps == 0:
        return darkness
    h, w = darkness.shape
    morph = cv2.dilate if steps > 0 else cv2.erode
    whole, fraction = int(math.floor(abs(steps))), np.float32(abs(steps) % 1.0)
    up = cv2.resize(darkness, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    kernel = np.ones((3, 3), np.uint8)

    def stepped(n: int) -> np.ndarray:
        if n == 0:
            return darkness
        grown = morph(up, kernel, iterations=n, borderType=cv2.BORDER_REFLECT)
        return cv2.resize(grown, (w, h), interpolation=cv2.INTER_AREA)

    near = stepped(whole)
    return near if not fraction else near * (1 - fraction) + stepped(whole + 1) * fraction


def width_steps(width: float, target: float, max_steps: float) -> float:
    """The width change in px (negative: thinner) that brings a stroke ``width`` to ``target``, at
    most ``max_steps`` either way, never thinning a stroke below 1 px."""
    return float(np.clip(target - width, -min(max_steps, max(width - 1.0, 0.0)), max_steps))


def normalise_sketch(grey: np.ndarray, target: SketchStyle, params: dict | None = None, *,
                     scale: float = 1.0) -> np.ndarray:
    """Bring a uint8 grey sketch (H, W; white paper = 255) toward the style ``target``.

    params: the keys of ``NORMALISE_DEFAULTS`` (the steps to run and their settings); missing
    keys take the defaults. scale: this sketch's pixels per pixel of the reference sketches (the
    target width is ``target.width * scale``), e.g. 2 for a 256 px sketch that will be run at the
    128 px the reference was measured at. Returns uint8 (H, W): paper at ``target.paper``,
    strokes darkened or lightened to ``target.ink`` and thinned or thickened toward its width.
    A blank page comes back as plain paper. Deterministic.
    """
    grey = _check_grey(grey)
    p = resolve_params(params)
    if p["paper"]:
        darkness = flat_paper(grey, p["background"])
    else:
        darkness = _darkness(grey, float(np.percentile(grey, 90.0)))
    ink = _ink(darkness)
    if ink is not None and p["width"]:
        steps = width_steps(stroke_width(darkness, ink), target.width * scale, p["max_width_change"])
        darkness = change_width(darkness, steps)
        ink = _ink(darkness)
    if ink is not None and p["contrast"]:
        gain = float(np.clip(target.ink / ink, 1.0 / p["max_gain"], p["max_gain"]))
        darkness = np.clip(darkness * np.float32(gain), 0.0, 1.0)
    out = np.float32(target.paper) * (1.0 - darkness)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def normalise_sketches(sketches: np.ndarray, target: SketchStyle, params: dict | None = None, *,
                       label: str = "sketches") -> np.ndarray:
    """``normalise_sketch`` of each of a batch of uint8 grey sketches (N, H, W), with a progress line
    every 1000 sketches (under ``label``)."""
    p = resolve_params(params)
    out = np.empty_like(sketches)
    for i, grey in enumerate(sketches):
        out[i] = normalise_sketch(grey, target, p)
        if (i + 1) % 1000 == 0:
            log.info("%s: %d/%d normalised", label, i + 1, len(sketches))
    return out


def normalise_shard(in_npz: str | Path, reference_npz: str | Path, out_npz: str | Path, params: dict | None = None,
                    *, reference_images: int) -> SketchStyle:
    """Normalise the sketches of a sketch shard toward the style of the sketches of ``reference_npz``
    (its first ``reference_images``). Writes the shard's arrays unchanged (``names``, ``rows``, a
    style shard's ``images``) with ``sketches`` normalised, atomically; returns the target style."""
    p = resolve_params(params)  # bad parameters fail before any work
    reference = load_npz(reference_npz)["sketches"][:reference_images]
    target = measure_style(reference)
    shard = load_npz(in_npz)
    log.info("%s: target style from %d sketches of %s: %s", out_npz, len(reference), reference_npz, target.as_dict())
    log.info("%s: the input's style: %s", out_npz, measure_style(shard["sketches"]).as_dict())
    start = time.perf_counter()
    shard["sketches"] = normalise_sketches(shard["sketches"], target, p, label=str(out_npz))
    seconds = time.perf_counter() - start
    save_npz(out_npz, **shard)
    log.info("%s: %d sketches normalised in %.2f s (%.2f ms each); now %s", out_npz, len(shard["sketches"]), seconds,
             1e3 * seconds / max(len(shard["sketches"]), 1), measure_style(shard["sketches"]).as_dict())
    return target


def load_reference(path: str | Path) -> SketchStyle:
    """A reference style from a sketch shard (``.npz`` with ``sketches``: measured) or a JSON file
    of ``SketchStyle`` fields (paper, ink, width)."""
    import json

    path = Path(path)
    if path.suffix == ".npz":
        shard = load_npz(path)
        if "sketches" not in shard:
            raise ValueError(f"{path}: no 'sketches' array; give a sketch shard, e.g. "
                             "results/sketches/faces/pencil/train/000.npz")
        return measure_style(shard["sketches"])
    try:
        fields = json.loads(path.read_text())
        return SketchStyle(paper=float(fields["paper"]), ink=float(fields["ink"]), width=float(fields["width"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a sketch style (a JSON object with paper, ink and width) nor a .npz "
                         f"sketch shard ({exc})") from None


def save_reference(style: SketchStyle, path: str | Path) -> None:
    """Write a ``SketchStyle`` as JSON (atomically), for ``load_reference``."""
    import json

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(style.as_dict(), indent=1) + "\n")
