"""The ``sketchback`` command: apply a trained model to one's own sketches, or sketch a photo."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger("sketchback")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def find_images(target: Path) -> list[Path]:
    if target.is_dir():
        images = sorted(p for p in target.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"{target} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return images
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist")
    return [target]


def predict_photo(generator, sketch_grey: np.ndarray) -> np.ndarray:
    """Run a generator on one grey uint8 sketch of any size; returns uint8 RGB of the same size.

    The sketch is padded with white paper to a multiple of 4 (the generator downsamples twice)
    and the prediction is cropped back.
    """
    from sketchback.data import sketch_to_input
    from sketchback.model import DOWNSAMPLING

    h, w = sketch_grey.shape
    pad_h, pad_w = -h % DOWNSAMPLING, -w % DOWNSAMPLING
    padded = np.pad(sketch_grey, ((0, pad_h), (0, pad_w)), constant_values=255)
    # An eager call, not predict(): predict() retraces per size and, after a few sizes, relaxes
    # the traced shape to (None, None), which the bilinear upsampling layer cannot trace.
    photo = np.asarray(generator(sketch_to_input(padded[None]), training=False))[0, :h, :w]
    return (np.clip(photo, 0, 1) * 255 + 0.5).astype(np.uint8)


def cmd_predict(args) -> None:
    import cv2

    from sketchback.evaluate import load_generator
    from sketchback.figures import save_png
    from sketchback.prepare import load_image
    from sketchback.sketch import to_grey

    generator = load_generator(args.model)
    images = find_images(Path(args.sketch))
    out = Path(args.out)
    for i, path in enumerate(images, 1):
        grey = to_grey(load_image(path))
        photo = predict_photo(generator, grey)
        target = out / f"{path.stem}.png" if len(images) > 1 or out.suffix == "" else out
        result = np.concatenate([cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), photo], axis=1) if args.side_by_side else photo
        save_png(target, result)
        log.info("[%d/%d] %s -> %s", i, len(images), path, target)


def cmd_sketch(args) -> None:
    from sketchback.figures import save_png
    from sketchback.prepare import load_image
    from sketchback.sketch import sketch_images

    image = load_image(args.photo)
    sketch = sketch_images(image[None], args.method, {})[0]
    save_png(args.out, np.repeat(sketch[..., None], 3, axis=-1))
    log.info("%s sketch of %s -> %s", args.method, args.photo, args.out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sketchback", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="turn a sketch (or a folder of sketches) into photos")
    p.add_argument("model", help="a trained generator, e.g. results/models/faces/generator.keras")
    p.add_argument("sketch", help="a sketch image or a folder of them (PNG/JPEG, any size, colour or grey)")
    p.add_argument("out", help="output PNG (one input) or folder")
    p.add_argument("--side-by-side", action="store_true", help="write sketch | photo side by side")
    p.set_defaults(func=cmd_predict)
    s = sub.add_parser("sketch", help="simulate a sketch of a photo")
    s.add_argument("photo")
    s.add_argument("out")
    s.add_argument("--method", default="pencil", help="pencil or xdog (default pencil)")
    s.set_defaults(func=cmd_sketch)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"sketchback: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
