"""Seeded procedural stand-ins for the real datasets in the offline demo.

Cartoon face portraits play CelebA and building facades play ZuBuD: both have edges a
pencil sketch picks up, and colour/shading a model has to infer from that structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

# Everything is drawn at _SS times the requested size and reduced with INTER_AREA, which
# together with LINE_AA gives smooth edges even at 32 px.
_SS = 2
# cv2 takes fixed-point coordinates with this many fractional bits, so shapes keep their
# sub-pixel position instead of snapping to the pixel grid (visible jitter at 32 px).
_SHIFT = 4
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA
_MIN_SIZE = 16


# --------------------------------------------------------------------------- drawing helpers


def _col(c) -> list[float]:
    return c.tolist() if isinstance(c, np.ndarray) else [float(v) for v in c]


def _fx(v: float) -> int:
    return int(round(v * _ONE))


def _ellipse(img, center, axes, angle, color, thickness=-1, start=0.0, end=360.0):
    cv2.ellipse(
        img,
        (_fx(center[0]), _fx(center[1])),
        (max(_fx(axes[0]), 1), max(_fx(axes[1]), 1)),
        float(angle), float(start), float(end),
        _col(color), int(thickness), _AA, _SHIFT,
    )


def _circle(img, center, radius, color, thickness=-1):
    cv2.circle(img, (_fx(center[0]), _fx(center[1])), max(_fx(radius), 1), _col(color),
               int(thickness), _AA, _SHIFT)


def _fixed(pts) -> np.ndarray:
    return np.rint(np.asarray(pts, dtype=np.float64) * _ONE).astype(np.int32)


def _poly(img, pts, color):
    cv2.fillPoly(img, [_fixed(pts)], _col(color), _AA, _SHIFT)


def _polyline(img, pts, color, thickness, closed=False):
    arr = _fixed(pts)
    cv2.polylines(img, [arr], closed, _col(color), int(thickness), _AA, _SHIFT)


def _line(img, p, q, color, thickness):
    cv2.line(img, (_fx(p[0]), _fx(p[1])), (_fx(q[0]), _fx(q[1])), _col(color), int(thickness),
             _AA, _SHIFT)


def _rect(img, x0, y0, x1, y1, color):
    a, b, c, d = _fx(x0), _fx(y0), _fx(x1), _fx(y1)
    quad = np.array([[a, b], [c, b], [c, d], [a, d]], np.int32)
    cv2.fillPoly(img, [quad], _col(color), _AA, _SHIFT)


def _mix(a, b, t: float) -> np.ndarray:
    return np.asarray(a, np.float64) * (1.0 - t) + np.asarray(b, np.float64) * t


def _clip255(x: np.ndarray) -> np.ndarray:
    # np.clip has a large fixed cost on 3-vectors, and colours are clipped hundreds of times.
    return np.minimum(np.maximum(x, 0.0), 255.0)


def _jitter(rng: np.random.Generator, c, amount: float) -> np.ndarray:
    return _clip255(np.asarray(c, np.float64) + rng.uniform(-amount, amount, 3))


def _scale(c, k: float) -> np.ndarray:
    return _clip255(np.asarray(c, np.float64) * k)


def _pick(rng: np.random.Generator, palette) -> np.ndarray:
    return np.asarray(palette[int(rng.integers(len(palette)))], np.float64)


def _smooth_field(values: np.ndarray, S: int) -> np.ndarray:
    """Upsample a coarse, smooth field to (S, S[, C]); far cheaper than full-size numpy math."""
    return cv2.resize(values.astype(np.float32), (S, S), interpolation=cv2.INTER_LINEAR)


def _coarse_grid(S: int, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Canvas-pixel coordinates (x, y) of the cell centres of an n x n grid laid over S x S."""
    c = (np.arange(n, dtype=np.float32) + 0.5) * (S / n) - 0.5
    return np.meshgrid(c, c)


def _gradient(S: int, c0, c1, angle: float) -> np.ndarray:
    """Linear ramp from c0 to c1 along ``angle`` (radians), float32 (S, S, 3)."""
    xs, ys = _coarse_grid(S)
    t = (np.cos(angle) * xs + np.sin(angle) * ys) / S
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0 = np.asarray(c0, np.float32)
    c1 = np.asarray(c1, np.float32)
    return _smooth_field(c0 + (c1 - c0) * t[..., None], S)


def _changed(canvas: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Boolean (S, S): pixels where anything was drawn since ``before`` was copied."""
    diff = cv2.absdiff(canvas, before)
    return cv2.transform(diff, np.ones((1, 3), np.float32)) > 0


def _apply_shade(canvas: np.ndarray, shade: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Multiply the masked pixels by a (S, S) float shade, returning a new uint8 canvas."""
    factor = np.where(where, shade, np.float32(1.0))
    return cv2.multiply(canvas, cv2.merge([factor, factor, factor]), dtype=cv2.CV_8U)


def _blotches(rng, S: int, cells: int, amplitude: float, chroma: float) -> np.ndarray:
    """Smooth low-frequency variation, float32 (S, S, 3): blurred scenery, clouds, stains.

    ``chroma`` is the colour share relative to brightness (0 gives grey blotches).
    """
    small = rng.normal(0.0, amplitude, (cells, cells, 1))
    small = (small + rng.normal(0.0, amplitude * chroma, (cells, cells, 3))).astype(np.float32)
    return cv2.resize(small, (S, S), interpolation=cv2.INTER_CUBIC)


def _finish(rng, canvas: np.ndarray, size: int, noise: tuple[float, float]) -> np.ndarray:
    """Reduce the supersampled canvas to ``size`` and add sensor-like grain."""
    img = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    sigma = np.float32(rng.uniform(*noise))
    # Mostly luminance grain with a little chroma, like a real (compressed) photo.
    grain = rng.standard_normal((size, size, 1), dtype=np.float32) * sigma
    chroma = rng.standard_normal((size, size, 3), dtype=np.float32)
    grain = grain + chroma * (sigma * np.float32(0.35))
    return np.clip(img + grain + np.float32(0.5), 0, 255).astype(np.uint8)


def _check_size(size: int) -> int:
    size = int(size)
    if size < _MIN_SIZE:
        raise ValueError(f"size must be at least {_MIN_SIZE}, got {size}")
    return size


# --------------------------------------------------------------------------- faces

_SKIN_LIGHT = (250, 220, 196)
_SKIN_MID = (205, 150, 110)
_SKIN_DARK = (88, 56, 40)
_HAIR = [
    (22, 18, 18), (28, 22, 20), (55, 38, 28), (85, 58, 38), (115, 78, 48), (150, 72, 36),
    (200, 160, 95), (225, 195, 130), (150, 148, 145), (215, 212, 205), (120, 40, 110),
]
_IRIS = [(70, 45, 25), (100, 65, 35), (45, 30, 20), (80, 120, 170), (90, 130, 100),
         (110, 115, 120)]
_CLOTHES = [
    (30, 30, 35), (235, 235, 235), (40, 60, 120), (150, 30, 40), (60, 110, 70), (120, 120, 125),
    (200, 170, 120), (90, 50, 110), (220, 120, 40), (70, 150, 190), (170, 90, 120), (50, 45, 40),
]
_LIPSTICK = [(170, 30, 45), (200, 70, 100), (120, 35, 60), (190, 90, 90)]


class _Frame:
    """Head-local coordinates: unit = face half-width, origin at face centre, y down, tilted."""

    def __init__(self, cx: float, cy: float, r: float, tilt_deg: float):
        self.cx, self.cy, self.r, self.tilt = cx, cy, r, tilt_deg
        t = math.radians(tilt_deg)
        self.c, self.s = math.cos(t), math.sin(t)

    def pt(self, u: float, v: float) -> tuple[float, float]:
        return (self.cx + self.r * (u * self.c - v * self.s),
                self.cy + self.r * (u * self.s + v * self.c))

    def pts(self, u, v) -> np.ndarray:
        u = np.asarray(u, np.float64)
        v = np.asarray(v, np.float64)
        return np.stack([self.cx + self.r * (u * self.c - v * self.s),
                         self.cy + self.r * (u * self.s + v * self.c)], axis=-1)

    def ellipse(self, img, u, v, a, b, color, thickness=-1, start=0.0, end=360.0, angle=0.0):
        _ellipse(img, self.pt(u, v), (a * self.r, b * self.r), self.tilt + angle, color,
                 thickness, start, end)


def _skin_tone(rng) -> np.ndarray:
    t = rng.uniform(0.0, 1.0)
    if t < 0.5:
        base = _mix(_SKIN_LIGHT, _SKIN_MID, t / 0.5)
    else:
        base = _mix(_SKIN_MID, _SKIN_DARK, (t - 0.5) / 0.5)
    return _jitter(rng, base, 12)


def synthetic_face(rng: np.random.Generator, size: int) -> np.ndarray:
    """A cartoon head-and-shoulders portrait, centred and roughly aligned like a CelebA crop.

    Draws from ``rng`` only, so the same generator state gives the same image.
    Returns uint8 RGB of shape (size, size, 3), values 0..255; ``size`` >= 16
    (intended range 32..256, geometry scales with it).
    """
    size = _check_size(size)
    S = size * _SS

    # Background: a wall-like gradient, sometimes with blurred "scenery" behind it.
    c0 = _mix(rng.uniform(20, 235, 3), rng.uniform(40, 220, 1), rng.uniform(0.2, 0.7))
    c1 = _jitter(rng, c0 * rng.uniform(0.5, 1.2), 50) if rng.random() < 0.7 else c0
    bgf = _gradient(S, c0, c1, rng.uniform(0, 2 * math.pi))
    if rng.random() < 0.5:
        bgf += _blotches(rng, S, int(rng.integers(3, 6)), rng.uniform(8, 30), 0.4)
    canvas = np.clip(bgf, 0, 255).astype(np.uint8)
    background = canvas.copy()

    tilt = rng.uniform(-9, 9)
    r = S * rng.uniform(0.165, 0.205)
    f = _Frame(S * (0.5 + rng.uniform(-0.04, 0.04)), S * (0.44 + rng.uniform(-0.03, 0.03)), r, tilt)
    b = rng.uniform(1.2, 1.4)  # face half-height in units of half-width
    lw = max(1, int(round(r * 0.05)))  # line width for features

    skin = _skin_tone(rng)
    feminine = rng.random() < 0.5
    hair = _jitter(rng, _pick(rng, _HAIR[:-1] if rng.random() < 0.93 else _HAIR), 12)
    styles = ["long", "short", "bald", "cap", "afro"]
    probs = [0.65, 0.2, 0.02, 0.08, 0.05] if feminine else [0.08, 0.55, 0.17, 0.12, 0.08]
    style = styles[int(rng.choice(len(styles), p=probs))]
    clothes = _jitter(rng, _pick(rng, _CLOTHES), 20)

    # Light comes from the upper left or upper right; shadows fall on the far side.
    la = math.radians(rng.uniform(200, 340))
    light = (math.cos(la), math.sin(la))
    shade_side = -1.0 if light[0] > 0 else 1.0

    # Big hair masses sit behind everything else.
    if style == "afro":
        f.ellipse(canvas, 0, -0.35, 1.65, b + 0.55, hair)
    if style == "long":
        length = rng.uniform(1.6, 2.6)
        f.ellipse(canvas, 0, -0.1, 1.28, b + 0.2, hair)
        _poly(canvas, f.pts([-1.28, 1.28, 1.2, 0.9, -0.9, -1.2],
                            [-0.1, -0.1, length, length + 0.25, length + 0.25, length]), hair)

    # Neck first so the clothing hides its lower end; its top follows the head's tilt, its
    # bottom stays on the upright body. Darker than the face because the chin shades it.
    chin_x, chin_y = f.pt(0, b)
    shoulder_top = chin_y + r * rng.uniform(0.3, 0.55)
    nw = rng.uniform(0.36, 0.48)
    neck = _scale(skin, 0.84)
    _poly(canvas, [f.pt(-nw, 0.5), f.pt(nw, 0.5), (chin_x + nw * 1.1 * r, shoulder_top + 0.4 * r),
                   (chin_x - nw * 1.1 * r, shoulder_top + 0.4 * r)], neck)

    # Shoulders: a flattened half-ellipse carried down to the bottom edge.
    sw = r * rng.uniform(2.3, 3.0)
    sh = r * rng.uniform(0.55, 0.95)
    t = np.linspace(math.pi, 2 * math.pi, 25)
    body = np.stack([chin_x + sw * np.cos(t), shoulder_top + sh + sh * np.sin(t)], -1)
    body = np.vstack([body, [[chin_x + sw, S + 4], [chin_x - sw, S + 4]]])
    _poly(canvas, body, clothes)
    if style == "long":
        # Long hair falls in front of the shoulders.
        _poly(canvas, f.pts([-1.25, -0.7, -0.8, -1.15], [0.6, 0.6, length, length - 0.1]), hair)
        _poly(canvas, f.pts([1.25, 0.7, 0.8, 1.15], [0.6, 0.6, length, length - 0.1]), hair)

    # Neckline (V or round) continuing the neck, so the clothing has a collar edge to sketch.
    depth = r * rng.uniform(0.35, 0.8)
    nx0, nx1 = chin_x - nw * 1.05 * r, chin_x + nw * 1.05 * r
    ny = shoulder_top - 0.03 * r  # just above the shoulder line, so no sliver of cloth shows
    trim = _scale(clothes, 1.3) if clothes.mean() < 128 else _scale(clothes, 0.7)
    has_trim = rng.random() < 0.5
    if rng.random() < 0.5:
        _poly(canvas, [(nx0, ny), (nx1, ny), (chin_x, ny + depth)], neck)
        if has_trim:
            _polyline(canvas, [(nx0, ny + 0.04 * r), (chin_x, ny + depth), (nx1, ny + 0.04 * r)],
                      trim, lw + 1)
    else:
        _ellipse(canvas, (chin_x, ny), (nw * 1.05 * r, depth * 0.7), 0, neck, -1, 0, 180)
        if has_trim:
            _ellipse(canvas, (chin_x, ny), (nw * 1.05 * r, depth * 0.7), 0, trim, lw + 1, 10, 170)

    # Ears, then the face outline (chin narrowed by a random jaw factor).
    ey = rng.uniform(-0.12, 0.05)
    for s in (-1, 1):
        f.ellipse(canvas, s * 0.97, ey + 0.2, 0.17, 0.3, _scale(skin, 0.9))
        f.ellipse(canvas, s * 0.99, ey + 0.2, 0.08, 0.17, _scale(skin, 0.72), lw)
    jaw = rng.uniform(0.0, 0.3)
    tt = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    su = np.cos(tt) * (1.0 - jaw * np.clip(np.sin(tt), 0, None) ** 3)
    sv = b * np.sin(tt)
    _poly(canvas, f.pts(su, sv), skin)

    # Hair on top of the head: outer arc plus a hairline across the forehead.
    if style in ("short", "long", "cap"):
        tt = np.linspace(math.pi, 2 * math.pi, 20)
        vol = rng.uniform(0.05, 0.3)
        ou, ov = (1.08 + vol * 0.4) * np.cos(tt), -0.2 + (b + vol) * np.sin(tt)
        hu = np.linspace(1.02, -1.02, 15)
        hh = rng.uniform(0.35, 0.95)  # how high the hairline rises in the middle
        part = rng.uniform(-0.25, 0.25)
        wave = rng.uniform(0, 0.08) * np.sin(hu * rng.uniform(6, 14) + rng.uniform(0, 6))
        hv = -0.15 - hh * (1 - ((hu - part) / 1.3) ** 2) + wave
        _poly(canvas, f.pts(np.concatenate([ou, hu]), np.concatenate([ov, hv])), hair)
    if style == "long":
        # Locks framing the face cover the ears.
        for s in (-1, 1):
            _poly(canvas, f.pts(s * np.array([1.2, 0.9, 0.92, 1.05, 1.25]),
                                [-0.4, -0.2, 0.8, length - 0.2, length - 0.3]), hair)
    if style == "cap":
        hat = _jitter(rng, _pick(rng, _CLOTHES), 25)
        f.ellipse(canvas, 0, -0.5, 1.14, b * 0.85, hat, -1, 180, 360)
        f.ellipse(canvas, 0, -0.5, 1.14, b * 0.85, _scale(hat, 0.7), lw, 180, 360)
        if rng.random() < 0.5:
            f.ellipse(canvas, 0, -0.5, 1.25, 0.16, _scale(hat, 0.8))  # brim all round
        else:
            f.ellipse(canvas, shade_side * -0.1, -0.48, 1.05, 0.28, _scale(hat, 0.75), -1, 0, 180)

    # Eyebrows.
    brow = hair if style != "bald" and hair.mean() < 170 else _scale(skin, 0.45)
    ex = rng.uniform(0.36, 0.46)
    ew = rng.uniform(0.19, 0.25)
    eh = rng.uniform(0.085, 0.13)
    brow_w = max(1, int(round(r * rng.uniform(0.05, 0.11))))
    brow_lift = rng.uniform(0.22, 0.34)
    brow_angle = rng.uniform(-12, 12)
    for s in (-1, 1):
        f.ellipse(canvas, s * ex, ey - brow_lift + 0.12, ew * 1.25, 0.16, brow, brow_w,
                  200, 340, angle=s * brow_angle)

    # Eyes: whites, iris, pupil, catch-light, upper lid line.
    iris = _jitter(rng, _pick(rng, _IRIS), 15)
    gaze = rng.uniform(-0.3, 0.3) * ew
    for s in (-1, 1):
        f.ellipse(canvas, s * ex, ey, ew, eh, (240, 238, 232))
        ir = eh * 0.92
        cu, cv = s * ex + gaze, ey + eh * 0.05
        _circle(canvas, f.pt(cu, cv), ir * r, iris)
        _circle(canvas, f.pt(cu, cv), ir * r * 0.5, (12, 10, 10))
        _circle(canvas, f.pt(cu + ir * 0.35, cv - ir * 0.35), max(ir * r * 0.22, 0.6),
                (250, 250, 250))
        lid = (25, 20, 20) if feminine else _scale(skin, 0.35)
        f.ellipse(canvas, s * ex, ey, ew * 1.02, eh * 1.05, lid, lw + int(feminine), 180, 360)
        f.ellipse(canvas, s * ex, ey, ew, eh, _scale(skin, 0.7), max(1, lw - 1), 20, 160)

    # Nose: a shadowed side, the tip and nostrils, placed on the side away from the light.
    ny_ = ey + rng.uniform(0.45, 0.6)
    nw_ = rng.uniform(0.13, 0.2)
    _line(canvas, f.pt(shade_side * 0.1, ey + 0.1), f.pt(shade_side * nw_ * 0.9, ny_ - 0.08),
          _scale(skin, 0.78), lw)
    f.ellipse(canvas, 0, ny_ - 0.03, nw_, 0.08, _scale(skin, 0.68), lw, 10, 170)
    for s in (-1, 1):
        f.ellipse(canvas, s * nw_ * 0.55, ny_, nw_ * 0.35, 0.045, _scale(skin, 0.45))

    # Beard/moustache under the mouth so the lips stay visible.
    my = ny_ + rng.uniform(0.25, 0.35)
    mw = rng.uniform(0.26, 0.4)
    beard = (not feminine) and rng.random() < 0.3
    if beard:
        bc = hair if style != "bald" or rng.random() < 0.5 else _scale(skin, 0.3)
        sel = np.sin(np.linspace(0, 2 * math.pi, 48, endpoint=False)) * b > ny_ + 0.05
        tt = np.linspace(0, 2 * math.pi, 48, endpoint=False)[sel]
        bu = np.cos(tt) * (1.0 - jaw * np.clip(np.sin(tt), 0, None) ** 3) * 1.02
        bv = b * np.sin(tt) * 1.04
        _poly(canvas, f.pts(bu, bv), bc)
        f.ellipse(canvas, 0, my - 0.1, mw * 1.15, 0.1, bc)
        f.ellipse(canvas, 0, my + 0.02, mw * 0.9, 0.16, skin)  # chin/lip area left uncovered

    # Mouth: lips with a cupid's bow, a mouth line whose curve sets the expression.
    lips = _mix(skin, (175, 70, 80), rng.uniform(0.3, 0.55))
    if feminine and rng.random() < 0.45:
        lips = _jitter(rng, _pick(rng, _LIPSTICK), 15)
    uh, lh = rng.uniform(0.05, 0.09), rng.uniform(0.06, 0.11)
    smile = rng.uniform(-0.03, 0.1)
    f.ellipse(canvas, 0, my, mw * 0.85, lh, lips, -1, 0, 180)
    bow_u = [-mw, -0.3 * mw, 0, 0.3 * mw, mw]
    bow_v = [my - smile, my - uh, my - uh * 0.55, my - uh, my - smile]
    _poly(canvas, f.pts(bow_u, bow_v), _scale(lips, 0.9))
    if rng.random() < 0.25:
        f.ellipse(canvas, 0, my + 0.01, mw * 0.75, lh * 0.8, (70, 20, 25), -1, 0, 180)
        f.ellipse(canvas, 0, my + 0.01, mw * 0.6, lh * 0.35, (235, 232, 225), -1, 0, 180)
    mu = np.linspace(-mw, mw, 9)
    _polyline(canvas, f.pts(mu, my - smile + smile * (1 - (mu / mw) ** 2) * 1.3),
              _scale(lips, 0.45), lw)

    # Glasses.
    if rng.random() < 0.2:
        frames = [(20, 20, 20), (120, 80, 40), (170, 170, 175), (150, 30, 30)]
        frame_col = _jitter(rng, _pick(rng, frames), 15)
        sun = rng.random() < 0.3
        for s in (-1, 1):
            if sun:
                f.ellipse(canvas, s * ex, ey + 0.02, ew * 1.35, eh * 2.3, (30, 30, 35))
            f.ellipse(canvas, s * ex, ey + 0.02, ew * 1.35, eh * 2.3, frame_col, lw)
            _line(canvas, f.pt(s * (ex + ew * 1.35), ey), f.pt(s * 0.98, ey - 0.05), frame_col, lw)
        _line(canvas, f.pt(-(ex - ew * 1.35), ey - 0.03), f.pt(ex - ew * 1.35, ey - 0.03),
              frame_col, lw)

    # Soft directional light plus a falloff towards the head's edges, only on the figure
    # (pixels that changed since the background was laid down).
    xs, ys = _coarse_grid(S, 32)
    dx, dy = (xs - f.cx) / r, (ys - f.cy) / r
    u = dx * f.c + dy * f.s
    v = -dx * f.s + dy * f.c
    strength = rng.uniform(0.12, 0.3)
    shade = 1.0 + strength * (u * light[0] + v * light[1]) / 1.3
    shade -= rng.uniform(0.05, 0.14) * np.minimum(u * u + (v / b) ** 2, 2.0)
    shade = _smooth_field(np.clip(shade, 0.45, 1.3), S)
    canvas = _apply_shade(canvas, shade, _changed(canvas, background))
    return _finish(rng, canvas, size, (1.0, 4.0))


# --------------------------------------------------------------------------- buildings

_PLASTER = [(235, 225, 200), (225, 190, 130), (215, 160, 120), (200, 200, 195), (240, 238, 232),
            (190, 205, 200), (230, 200, 190), (175, 160, 140), (160, 170, 185), (215, 180, 90)]
_BRICK = [(150, 65, 45), (170, 90, 60), (120, 55, 40), (185, 120, 85), (95, 55, 45)]
_STONE = [(180, 175, 165), (200, 185, 155), (140, 140, 140), (165, 150, 125)]
_ROOF = [(160, 70, 45), (90, 90, 100), (60, 65, 75), (120, 80, 60), (75, 100, 95)]
_FRAME = [(240, 240, 235), (35, 35, 35), (110, 70, 40), (60, 90, 70), (180, 175, 165)]
_SHUTTER = [(60, 110, 70), (50, 80, 130), (120, 80, 45), (150, 150, 145), (160, 50, 40),
            (210, 200, 170)]
_DOOR = [(90, 55, 30), (60, 35, 20), (30, 50, 35), (120, 30, 30), (35, 40, 60), (140, 100, 60)]
_GLASS = [(50, 65, 85), (70, 90, 110), (40, 45, 50), (95, 120, 135), (60, 70, 65)]


def _sky(rng, S: int) -> np.ndarray:
    kind = rng.random()
    if kind < 0.6:   # clear
        top = _jitter(rng, (70, 125, 205), 30)
        bottom = _jitter(rng, (185, 210, 235), 20)
    elif kind < 0.9:  # overcast
        g = rng.uniform(150, 220)
        top = _jitter(rng, (g, g, g + 8), 10)
        bottom = _jitter(rng, (g + 20, g + 20, g + 22), 8)
    else:            # evening
        top = _jitter(rng, (60, 80, 150), 20)
        bottom = _jitter(rng, (240, 170, 110), 20)
    sky = _gradient(S, top, bottom, math.pi / 2 + rng.uniform(-0.2, 0.2))
    if rng.random() < 0.5:  # soft clouds
        sky += np.abs(_blotches(rng, S, int(rng.integers(4, 8)), rng.uniform(10, 35), 0.0))
    return sky


def _material(rng) -> tuple[str, np.ndarray]:
    u = rng.random()
    if u < 0.55:
        return "plaster", _jitter(rng, _pick(rng, _PLASTER), 15)
    if u < 0.8:
        return "brick", _jitter(rng, _pick(rng, _BRICK), 15)
    return "stone", _jitter(rng, _pick(rng, _STONE), 15)


def _fill_wall(rng, canvas, x0, y0, x1, y1, material: str, color, S: int):
    """Fill an axis-aligned wall rectangle with a textured material (clipped to the canvas)."""
    X0, Y0 = max(int(round(x0)), 0), max(int(round(y0)), 0)
    X1, Y1 = min(int(round(x1)), S), min(int(round(y1)), S)
    if X1 <= X0 or Y1 <= Y0:
        return
    h, w = Y1 - Y0, X1 - X0
    wall = np.empty((h, w, 3), np.float32)
    wall[:] = np.asarray(color, np.float32)
    if material == "plaster":
        wall += _blotches(rng, max(h, w), 6, rng.uniform(3, 10), 0.2)[:h, :w]
    else:
        course = max(2, int(round(S * (0.022 if material == "brick" else 0.05))))
        unit = int(course * (2.3 if material == "brick" else 1.8))
        yy = np.arange(Y0, Y1)[:, None] - int(y0)
        xx = np.arange(X0, X1)[None, :] - int(x0)
        row = yy // course
        xs = xx + (row % 2) * (unit // 2)
        col = xs // unit
        # Per-brick tone from a small random table, indexed by brick position.
        table = rng.uniform(-18, 18, (16, 16)).astype(np.float32)
        wall += table[row % 16, col % 16][..., None]
        joint = (yy % course == 0) | (xs % unit == 0)
        mortar = np.asarray(_mix(color, (215, 210, 200), 0.6), np.float32)
        wall[joint] = mortar
    canvas[Y0:Y1, X0:X1] = np.clip(wall, 0, 255).astype(np.uint8)


def _window_tile(ww: float, wh: float, arch: bool, shutters: bool, closed: bool,
                 frame, glass, shutter, wall) -> tuple[tuple[np.ndarray, np.ndarray], float]:
    """One window (reveal shadow, frame, glass, mullions, sill, shutters), ready for _stamp.

    Returns ((rgb * alpha, 1 - alpha) float32 tile, offset from the tile's top row to the
    top of the window opening).
    """
    pad_x = ww * 0.55 if shutters else ww * 0.12
    pad_y = wh * 0.12
    tw, th = int(math.ceil(ww + 2 * pad_x)) + 2, int(math.ceil(wh + 2 * pad_y)) + 2
    tile = np.zeros((th, tw, 4), np.uint8)
    x0, y0 = (tw - ww) / 2, pad_y + 1
    x1, y1 = x0 + ww, y0 + wh
    fw = max(1.0, ww * 0.09)
    a = 255.0
    fr = (*frame, a)
    shadow = (*_scale(wall, 0.55), a)
    # Recessed opening: shadow on the top and one side gives the window depth.
    if arch:
        rad = ww / 2
        _rect(tile, x0, y0 + rad, x1, y1, fr)
        _ellipse(tile, ((x0 + x1) / 2, y0 + rad), (rad, rad), 0, fr, -1, 180, 360)
        _rect(tile, x0 + fw, y0 + rad, x1 - fw, y1 - fw, shadow)
        _ellipse(tile, ((x0 + x1) / 2, y0 + rad), (rad - fw, rad - fw), 0, shadow, -1, 180, 360)
        gx0 = x0 + fw * 1.6
        _rect(tile, gx0, y0 + rad, x1 - fw, y1 - fw, (*glass, a))
        _ellipse(tile, ((gx0 + x1 - fw) / 2, y0 + rad), ((x1 - fw - gx0) / 2, rad - fw * 1.6), 0,
                 (*glass, a), -1, 180, 360)
    else:
        _rect(tile, x0, y0, x1, y1, fr)
        _rect(tile, x0 + fw, y0 + fw, x1 - fw, y1 - fw, shadow)
        _rect(tile, x0 + fw * 1.6, y0 + fw * 1.6, x1 - fw, y1 - fw, (*glass, a))
    # Sky reflection: a lighter diagonal band across the glass.
    refl = (*_mix(glass, (220, 230, 240), 0.35), a)
    _poly(tile, [(x0 + ww * 0.25, y1 - fw), (x0 + ww * 0.55, y1 - fw),
                 (x1 - fw, y0 + wh * 0.35), (x1 - fw, y0 + wh * 0.05 + (ww / 2 if arch else 0))],
          refl)
    mw = max(1, int(round(fw * 0.7)))
    _line(tile, ((x0 + x1) / 2, y0 + fw), ((x0 + x1) / 2, y1 - fw), fr, mw)
    _line(tile, (x0 + fw, y0 + wh * 0.4 + (ww * 0.2 if arch else 0)),
          (x1 - fw, y0 + wh * 0.4 + (ww * 0.2 if arch else 0)), fr, mw)
    # Sill, slightly wider than the opening, lit from above.
    sill = (*_mix(frame, (255, 255, 255), 0.3), a)
    _rect(tile, x0 - fw, y1, x1 + fw, y1 + max(fw * 1.2, 1.0), sill)
    if shutters:
        sh = (*shutter, a)
        slat = (*_scale(shutter, 0.7), a)
        if closed:
            sides = [(x0, (x0 + x1) / 2), ((x0 + x1) / 2, x1)]
        else:
            sides = [(x0 - ww * 0.5, x0), (x1, x1 + ww * 0.5)]
        top = y0 + (ww / 2 if arch and not closed else 0)
        for sx0, sx1 in sides:
            _rect(tile, sx0, top, sx1, y1, sh)
            step = max(2.0, wh / 7)
            yy = top + step
            while yy < y1 - 1:
                _line(tile, (sx0 + 0.5, yy), (sx1 - 0.5, yy), slat, 1)
                yy += step
            _line(tile, (sx0, top), (sx0, y1), slat, 1)
    # Pre-multiplied form, so stamping the same window many times costs one blend each.
    alpha = tile[..., 3:].astype(np.float32) * np.float32(1.0 / 255.0)
    return (tile[..., :3] * alpha, np.float32(1.0) - alpha), y0


def _stamp(canvas: np.ndarray, tile: tuple[np.ndarray, np.ndarray], cx: float, top: float) -> None:
    """Composite a (rgb*alpha, 1-alpha) tile with its centre at x=cx, clipped to the canvas."""
    premul, keep = tile
    th, tw = keep.shape[:2]
    x, y = int(round(cx - tw / 2)), int(round(top))
    H, W = canvas.shape[:2]
    sx0, sy0 = max(0, -x), max(0, -y)
    sx1, sy1 = min(tw, W - x), min(th, H - y)
    if sx1 <= sx0 or sy1 <= sy0:
        return
    region = canvas[y + sy0:y + sy1, x + sx0:x + sx1]
    blended = region * keep[sy0:sy1, sx0:sx1] + premul[sy0:sy1, sx0:sx1]
    region[:] = (blended + np.float32(0.5)).astype(np.uint8)


def _facade(rng, canvas, S: int, x0: float, x1: float, top: float, ground: float, main: bool):
    """Draw one building front between x0..x1, from ``top`` down to ``ground``."""
    material, wall = _material(rng)
    width = x1 - x0
    height = ground - top
    _fill_wall(rng, canvas, x0, top, x1, ground, material, wall, S)

    # Roof: pitched (tiles) or flat behind a cornice.
    overhang = width * rng.uniform(0.0, 0.04)
    roof_col = _jitter(rng, _pick(rng, _ROOF), 15)
    trim = _jitter(rng, _mix(wall, (245, 245, 240), rng.uniform(0.3, 0.8)), 10)
    if rng.random() < 0.45:
        rh = height * rng.uniform(0.12, 0.3)
        inset = width * rng.uniform(0.05, 0.5) if rng.random() < 0.7 else width / 2
        _poly(canvas, [(x0 - overhang, top), (x1 + overhang, top), (x1 - inset, top - rh),
                       (x0 + inset, top - rh)], roof_col)
        for k in range(1, 4):  # tile courses
            yk = top - rh * k / 4
            fx = k / 4
            _line(canvas, (x0 - overhang + (inset + overhang) * fx, yk),
                  (x1 + overhang - (inset + overhang) * fx, yk), _scale(roof_col, 0.75), 1)
        if rng.random() < 0.5:
            cxh = x0 + width * rng.uniform(0.2, 0.8)
            cw = width * 0.05
            _rect(canvas, cxh - cw, top - rh * 1.1, cxh + cw, top - rh * 0.3, _scale(wall, 0.8))
    ch = max(2.0, height * rng.uniform(0.02, 0.05))
    _rect(canvas, x0 - overhang, top - ch * 0.3, x1 + overhang, top + ch, trim)
    _rect(canvas, x0, top + ch, x1, top + ch * 1.6, _scale(wall, 0.6))  # cornice shadow

    # Floors and window grid; the ground floor is taller and holds the door.
    floors = int(rng.integers(2, 6))
    body_top = top + ch * 1.6
    gf = height * rng.uniform(0.22, 0.32) if floors > 1 else height
    upper = (ground - gf - body_top) / max(floors - 1, 1)
    cols = int(np.clip(round(width / (S * rng.uniform(0.1, 0.22))), 1, 8))
    pitch = width / cols
    ww = pitch * rng.uniform(0.38, 0.62)
    wh = min(upper * rng.uniform(0.5, 0.72), ww * rng.uniform(1.2, 2.2))
    arch = rng.random() < 0.25 and wh > ww * 1.25  # squat arches read as half-moons
    shutters = main and rng.random() < 0.35
    frame = _jitter(rng, _pick(rng, _FRAME), 10)
    glass = _jitter(rng, _pick(rng, _GLASS), 12)
    shutter = _jitter(rng, _pick(rng, _SHUTTER), 15)
    tiles = [_window_tile(ww, wh, arch, shutters, False, frame, glass, shutter, wall)]
    # A second version (closed shutters, or lit/curtained glass) so rows are not identical.
    if shutters:
        tiles.append(_window_tile(ww, wh, arch, True, True, frame, glass, shutter, wall))
    else:
        alt = _jitter(rng, _mix(glass, (230, 210, 160), rng.uniform(0.3, 0.7)), 10)
        tiles.append(_window_tile(ww, wh, arch, False, False, frame, alt, shutter, wall))
    p_alt = rng.uniform(0.0, 0.35)

    band = rng.random() < 0.5
    for fl in range(floors - 1):
        fy = body_top + fl * upper
        if band and fl > 0:
            _rect(canvas, x0, fy - max(1.0, upper * 0.03), x1, fy + max(1.0, upper * 0.03), trim)
        wy = fy + (upper - wh) * rng.uniform(0.35, 0.55) if fl == 0 else fy + (upper - wh) * 0.45
        for c in range(cols):
            tile, off = tiles[1] if rng.random() < p_alt else tiles[0]
            _stamp(canvas, tile, x0 + pitch * (c + 0.5), wy - off)

    # Ground floor: a band, a door (sometimes two) and shop windows or plain windows.
    gtop = ground - gf
    _rect(canvas, x0, gtop - max(1.0, gf * 0.04), x1, gtop, trim)
    door_cols = {int(rng.integers(cols))}
    if cols >= 5 and rng.random() < 0.4:
        door_cols.add(int(rng.integers(cols)))
    shop = rng.random() < 0.4
    door_col = _jitter(rng, _pick(rng, _DOOR), 12)
    dw = min(pitch * rng.uniform(0.4, 0.65), gf * 0.6)
    dh = gf * rng.uniform(0.65, 0.85)
    darch = rng.random() < 0.3
    for c in range(cols):
        cx = x0 + pitch * (c + 0.5)
        if c in door_cols:
            dx0, dx1, dy0 = cx - dw / 2, cx + dw / 2, ground - dh
            fw = max(1.0, dw * 0.08)
            _rect(canvas, dx0 - fw, dy0 - fw, dx1 + fw, ground, trim)
            if darch:
                _ellipse(canvas, (cx, dy0 + dw / 2), (dw / 2 + fw, dw / 2 + fw), 0, trim,
                         -1, 180, 360)
                _ellipse(canvas, (cx, dy0 + dw / 2), (dw / 2, dw / 2), 0, _scale(door_col, 0.6),
                         -1, 180, 360)
                _rect(canvas, dx0, dy0 + dw / 2, dx1, ground, door_col)
            else:
                _rect(canvas, dx0, dy0, dx1, ground, door_col)
            # Panels and a handle give the door its own edges.
            ptop = dy0 + (dw / 2 if darch else 0) + dh * 0.08
            panel = _scale(door_col, 0.78)
            for px0, px1 in ((dx0 + dw * 0.12, cx - dw * 0.06), (cx + dw * 0.06, dx1 - dw * 0.12)):
                _rect(canvas, px0, ptop, px1, ptop + dh * 0.35, panel)
                _rect(canvas, px0, ptop + dh * 0.45, px1, ground - dh * 0.08, panel)
            _circle(canvas, (cx + dw * 0.3, dy0 + dh * 0.55), max(dw * 0.04, 1.0), (200, 180, 90))
            step_h = max(1.5, gf * 0.04)
            _rect(canvas, dx0 - fw * 2, ground - step_h, dx1 + fw * 2, ground, (150, 150, 145))
        elif shop:
            sx0, sx1 = x0 + pitch * c + pitch * 0.08, x0 + pitch * (c + 1) - pitch * 0.08
            sy0, sy1 = gtop + gf * 0.22, ground - gf * 0.1
            fw = max(1.0, pitch * 0.03)
            _rect(canvas, sx0, sy0, sx1, sy1, frame)
            _rect(canvas, sx0 + fw, sy0 + fw, sx1 - fw, sy1 - fw,
                  _mix(glass, (230, 215, 170), 0.25))
            _rect(canvas, sx0, sy0 - gf * 0.12, sx1, sy0 - gf * 0.02, shutter)  # awning/sign
        else:
            tile, off = tiles[0]
            _stamp(canvas, tile, cx, gtop + (gf - wh) * 0.45 - off)


def synthetic_building(rng: np.random.Generator, size: int) -> np.ndarray:
    """A roughly fronto-parallel street facade, like a ZuBuD photo.

    Draws from ``rng`` only, so the same generator state gives the same image.
    Returns uint8 RGB of shape (size, size, 3), values 0..255; ``size`` >= 16
    (intended range 32..256, geometry scales with it).
    """
    size = _check_size(size)
    S = size * _SS
    canvas = np.clip(_sky(rng, S), 0, 255).astype(np.uint8)
    sky = canvas.copy()
    ground = S * rng.uniform(0.8, 0.92)

    # Optional neighbour first, so the main building overlaps it.
    if rng.random() < 0.5:
        left = rng.random() < 0.5
        split = S * rng.uniform(0.2, 0.4)
        nb = (-S * 0.05, split + S * 0.05) if left else (S - split - S * 0.05, S * 1.05)
        _facade(rng, canvas, S, nb[0], nb[1], S * rng.uniform(0.1, 0.45), ground, False)
        if left:
            main = (split, S * rng.uniform(0.95, 1.08))
        else:
            main = (-S * rng.uniform(-0.05, 0.08), S - split)
    else:
        main = (S * rng.uniform(-0.08, 0.12), S * rng.uniform(0.88, 1.08))
    _facade(rng, canvas, S, main[0], main[1], S * rng.uniform(0.12, 0.33), ground, True)

    # Pavement with a kerb, then the street.
    kerb = ground + (S - ground) * rng.uniform(0.35, 0.6)
    pave = _jitter(rng, (165, 160, 150), 20)
    _rect(canvas, -1, ground, S + 1, kerb, pave)
    _rect(canvas, -1, kerb, S + 1, kerb + max(1.5, S * 0.01), _scale(pave, 1.15))
    _rect(canvas, -1, kerb + max(1.5, S * 0.01), S + 1, S + 1, _jitter(rng, (75, 75, 80), 15))

    # Sunlight sweeping across the front, darker towards the street; the sky is left alone.
    xs, ys = _coarse_grid(S)
    side = 1.0 if rng.random() < 0.5 else -1.0
    shade = 1.0 + rng.uniform(0.08, 0.25) * side * (xs / S - 0.5)
    shade -= rng.uniform(0.0, 0.15) * (ys / S - 0.3)
    canvas = _apply_shade(canvas, _smooth_field(shade, S), _changed(canvas, sky))

    # Small perspective tilt. Every corner moves outwards, so the warped image still
    # covers the whole frame and no border needs inventing.
    j = S * 0.06
    src = np.float32([[0, 0], [S, 0], [S, S], [0, S]])
    out = rng.uniform(0.0, j, (4, 2)).astype(np.float32)
    dst = src + out * np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    M = cv2.getPerspectiveTransform(src, dst)
    canvas = cv2.warpPerspective(canvas, M, (S, S), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT)
    return _finish(rng, canvas, size, (1.0, 3.5))


# --------------------------------------------------------------------------- dispatch

KINDS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "faces": synthetic_face,
    "buildings": synthetic_building,
}


def synthetic_image(kind: str, seed: int, index: int, size: int) -> np.ndarray:
    """Image ``index`` of the synthetic dataset ``kind`` ("faces" or "buildings").

    Uses ``np.random.default_rng([seed, index])``, so any subset or shard can be
    regenerated on its own. Returns uint8 RGB (size, size, 3), values 0..255.
    Raises ValueError for an unknown kind.
    """
    try:
        fn = KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown synthetic kind {kind!r}; expected one of {sorted(KINDS)}"
        ) from None
    return fn(np.random.default_rng([seed, index]), size)
