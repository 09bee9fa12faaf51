"""The ``sketchback`` command: apply a trained model to one's own sketches, or sketch a photo."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from sketchback.images import DEFAULT_MAX_PIXELS, declared_size

log = logging.getLogger("sketchback")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
OUTPUT_SUFFIXES = {".png", ".jpg", ".jpeg"}
DEFAULT_MAX_SIDE = 1024  # px; larger sketches are run scaled down (CPU memory and time grow with the area)
CORRUPT = "cannot be decoded as an image (corrupt, truncated or not an image file)"


class UnreadableImage(ValueError):
    """An input file that is not an image OpenCV can decode."""


class TooManyPixels(ValueError):
    """An input image with more pixels than --max-pixels allows (a decompression bomb, or a huge scan)."""


def megapixels(pixels: int) -> str:
    return f"{pixels:,} px ({pixels / 1e6:.4g} megapixels)"


def check_pixels(path: Path, width: int, height: int, max_pixels: int | None, verb: str = "declares") -> None:
    """Raise TooManyPixels when a width x height image is over ``max_pixels`` (None: no limit); log a
    warning above half of it (with the default limit: above Pillow's MAX_IMAGE_PIXELS, as Pillow does)."""
    pixels = width * height
    if max_pixels is None or pixels <= max_pixels / 2:
        return
    if pixels > max_pixels:
        raise TooManyPixels(f"{path}: {verb} {width}x{height} = {megapixels(pixels)}, over the limit of "
                            f"{megapixels(max_pixels)}, a guard against decompression bombs. If the image is "
                            f"genuine, raise the limit: --max-pixels {pixels} (or --max-pixels none)")
    log.warning("%s: %s %dx%d = %s, over half the limit of %s: expect it to take long and much memory",
                path, verb, width, height, megapixels(pixels), megapixels(max_pixels))


def max_pixels_option(text: str) -> int | None:
    """--max-pixels: a number of pixels, or 0 / none for no limit (None)."""
    if text.strip().lower() in ("0", "none"):
        return None
    try:
        pixels = int(text)
    except ValueError:
        pixels = -1
    if pixels < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of pixels, e.g. 400000000, or 0 / none for no limit")
    return pixels


def find_images(target: Path) -> list[Path]:
    """The sketch files of a folder (top level, by suffix, sorted), or [target] for a file."""
    if target.is_dir():
        images = sorted(p for p in target.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                        and not p.name.startswith("."))
        if not images:
            raise FileNotFoundError(f"{target} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return images
    if not target.exists():
        raise FileNotFoundError(f"{target} does not exist")
    return [target]


@contextlib.contextmanager
def opencv_quiet():
    """Silence OpenCV's own log lines (for a corrupt PNG it prints "[ERROR:0@...] global
    grfmt_png.cpp ... readHeader IHDR ..." before returning None): the caller names the file."""
    import cv2

    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def read_grey(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file (a sketch, or a photo to sketch) as uint8 grey (H, W), white paper = 255.

    Any size; grey, colour or palette; 8 or 16 bit; an alpha channel is composited over white
    paper (a drawing on a transparent background stays a drawing on white). JPEG orientation tags
    are applied. Grey is OpenCV's luma, what the sketch methods compute from a colour photo.
    Raises UnreadableImage naming the file when it cannot be decoded, and TooManyPixels when its
    header declares more than ``max_pixels`` (None: no limit), before any pixel is decoded, or when
    its decoded size does (a header that lies).
    """
    import cv2

    path = Path(path)
    if path.stat().st_size == 0:
        raise UnreadableImage(f"{path}: the file is empty")
    size = declared_size(path)
    if size is None:
        raise UnreadableImage(f"{path}: {CORRUPT}")
    check_pixels(path, *size, max_pixels)
    data = np.fromfile(path, dtype=np.uint8)
    with opencv_quiet():
        raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise UnreadableImage(f"{path}: {CORRUPT}")
    if raw.shape[0] * raw.shape[1] != size[0] * size[1]:  # the header lied; the decoded size is what costs
        lie = f"declares {size[0]}x{size[1]} px but decodes to"
        check_pixels(path, raw.shape[1], raw.shape[0], max_pixels, verb=lie)
    if raw.ndim == 3 and raw.shape[2] == 4:
        scale = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0
        bgra = raw.astype(np.float32) / scale
        alpha = bgra[..., 3:4]
        bgr = bgra[..., :3] * alpha + (1.0 - alpha)  # over white paper
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
    with opencv_quiet():
        colour = cv2.imdecode(data, cv2.IMREAD_COLOR)  # 8-bit BGR, EXIF orientation applied
    if colour is None:
        raise UnreadableImage(f"{path}: {CORRUPT}")
    return cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)


def predict_photo(generator, sketch_grey: np.ndarray, max_side: int | None = DEFAULT_MAX_SIDE,
                  size: int | None = None, hints: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Run a generator on one grey uint8 sketch of any size; returns uint8 RGB of the same size.

    hints: colour hints for a model that takes them (``sketchback.sketches.hints``): float32 RGB (H, W, 3)
    in [0, 1] and mask (H, W, 1), at the sketch's size, scaled and padded with it; None: none.

    The model runs at the sketch's own size, or with its longer side scaled to ``size`` (e.g. the
    image size the model was trained at), or scaled down to ``max_side`` when it is larger, or,
    for a model that records its training size (the original's released weights) and no ``size``,
    at exactly that size; the photo is scaled back to the sketch's size. The sketch is padded with white paper to a
    multiple of 2 ** the generator's downsamplings (4 by default) and the prediction cropped back.
    """
    import cv2

    from sketchback.data.shards import sketch_to_input
    from sketchback.sketches.hints import hint_input, resize_hints, takes_hints
    from sketchback.models.generators import size_multiple, trained_size

    h, w = sketch_grey.shape
    side = size if size is not None else (min(max(h, w), max_side) if max_side else max(h, w))
    scale = side / max(h, w)
    work = sketch_grey
    fixed = trained_size(generator) if size is None else None
    if fixed is not None:  # a model that records its training size (the original's weights) runs at it
        scale = min(fixed[0] / h, fixed[1] / w)
        work = cv2.resize(sketch_grey, fixed[::-1], interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    elif scale != 1.0:
        wh = (max(1, round(w * scale)), max(1, round(h * scale)))
        work = cv2.resize(sketch_grey, wh, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    wh_, ww_ = work.shape
    multiple = size_multiple(generator)
    padded = np.pad(work, ((0, -wh_ % multiple), (0, -ww_ % multiple)), constant_values=255)
    # An eager call, not predict(): predict() retraces per size and, after a few sizes, relaxes
    # the traced shape to (None, None), which the bilinear upsampling layer cannot trace.
    x = sketch_to_input(padded[None])
    if takes_hints(generator):
        rgb, mask = resize_hints(*hints, (ww_, wh_)) if hints is not None else (None, None)
        pad = ((0, -wh_ % multiple), (0, -ww_ % multiple), (0, 0))
        x = hint_input(x, *(None if part is None else np.pad(part, pad)[None] for part in (rgb, mask)))
    elif hints is not None:
        raise ValueError(f"the model {generator.name!r} takes no colour hints (it was trained without them)")
    photo = np.asarray(generator(x, training=False))[0, :wh_, :ww_]
    photo = (np.clip(photo, 0, 1) * 255 + 0.5).astype(np.uint8)
    if photo.shape[:2] != (h, w):
        photo = cv2.resize(photo, (w, h), interpolation=cv2.INTER_CUBIC if scale < 1 else cv2.INTER_AREA)
    return photo


def write_image(path: Path, rgb: np.ndarray) -> None:
    """Write uint8 RGB to a .png or .jpg/.jpeg file atomically."""
    import cv2

    from sketchback.io import atomic_path

    suffix = path.suffix.lower()
    ok, encoded = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: OpenCV cannot encode a {suffix} image")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())


def output_paths(images: list[Path], source: Path, out: Path, made: str = "photos") -> list[Path]:
    """Where each input's output (a photo, or a sketch: ``made``) goes.

    One input file: OUT itself when it names a .png/.jpg file, else OUT/<name>.png. A folder:
    OUT/<name>.png for each input (<name>_<suffix>.png where two share a name, a.png and a.jpg).
    """
    if not source.is_dir():
        if out.is_dir() or not out.suffix:
            return [out / f"{source.stem}.png"]
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise ValueError(f"{out}: cannot write {out.suffix!r} {made}; name a .png or .jpg file, or a folder")
        return [out]
    if (out.exists() and not out.is_dir()) or out.suffix.lower() in IMAGE_SUFFIXES:
        raise ValueError(f"{out}: INPUT {source} is a folder, so OUT must be a folder, not a file")
    stems = [p.stem for p in images]
    return [out / (f"{p.stem}_{p.suffix.lstrip('.').lower()}.png" if stems.count(p.stem) > 1 else f"{p.stem}.png")
            for p in images]


def refuse_to_overwrite(source: Path, out: Path, targets: list[Path], made: str, inputs: str) -> None:
    """Raise ValueError when writing ``targets`` would overwrite an input."""
    if source.is_dir() and out.resolve() == source.resolve():
        raise ValueError(f"OUT {out} is the INPUT folder: the {made} would overwrite the {inputs}; choose another folder")
    if not source.is_dir() and targets[0].resolve() == source.resolve():
        raise ValueError(f"OUT {out} is the INPUT file: the output would overwrite it; choose another name")


def parse_settings(settings: list[str] | None) -> dict[str, object]:
    """``KEY=VALUE`` strings as a dict, each value read as YAML (``21``, ``0.5``, ``null``, ``[a, b]``)."""
    import yaml

    params: dict[str, object] = {}
    for item in settings or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: write KEY=VALUE, e.g. --set sigma=1.2")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {item!r}: the value is not valid YAML ({exc})") from exc
    return params


class Progress:
    """A progress bar on a terminal; one line per item otherwise (logs, pipes)."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()

    def step(self, name: str, status: str = "ok") -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        if self.tty:
            filled = round(30 * self.done / self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
                              f"{elapsed:.0f}s, ~{left:.0f}s left  {name[:40]:<40}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {name}: {status}\n")
        self.stream.flush()


def convert_files(images: list[Path], targets: list[Path], convert) -> list[str]:
    """Write ``convert(path)`` (uint8 RGB image, short description) of each file to its target.

    Shows a progress bar for several files (a line per file when stderr is not a terminal); one
    bad file does not stop the others. Returns one message per file that failed.
    """
    progress = Progress(len(images)) if len(images) > 1 else None
    failed: list[str] = []
    for path, target in zip(images, targets):
        try:
            image, description = convert(path)
            write_image(target, image)
        except Exception as exc:  # one bad file must not stop a folder; each failure is reported at the end
            failed.append(str(exc) if isinstance(exc, (UnreadableImage, TooManyPixels))
                          else f"{path}: {type(exc).__name__}: {exc}")
            if progress:
                progress.step(path.name, "FAILED")
            continue
        if progress:
            progress.step(path.name, f"{description} -> {target}")
        else:
            print(f"{path} ({description}) -> {target}", file=sys.stderr)
    return failed


def report_failures(failed: list[str], total: int, inputs: str) -> int:
    """List the failures on stderr; the exit status: 1 if any file failed, else 0."""
    if not failed:
        return 0
    print(f"sketchback: error: {len(failed)} of {total} {inputs} failed:", file=sys.stderr)
    for message in failed:
        print(f"  {message}", file=sys.stderr)
    return 1


def cmd_predict(args) -> int:
    import cv2

    from sketchback.evaluation.evaluate import load_generator

    source, out = Path(args.sketch), Path(args.out)
    images = find_images(source)
    targets = output_paths(images, source, out)
    refuse_to_overwrite(source, out, targets, made="photos", inputs="sketches")
    if args.size is not None and args.size < 4:
        raise ValueError(f"--size {args.size}: give at least 4 px")
    generator = load_generator(args.model)
    if not args.normalise and (args.reference or args.set):
        raise ValueError("--reference and --set are settings of the normaliser: add --normalise")
    normalise = normaliser(args) if args.normalise else None
    hint_file = hint_files(args.hints, source, generator, args.model) if args.hints else (lambda path: None)

    def convert(path: Path) -> tuple[np.ndarray, str]:
        from sketchback.sketches.hints import read_hint_file

        grey = read_grey(path, args.max_pixels)
        hints_path = hint_file(path)
        hints = read_hint_file(hints_path, grey.shape) if hints_path else None
        if normalise:  # strokes matched at the size the model runs at
            grey = normalise(grey, scale=max(grey.shape) / model_side(grey.shape, args.max_side, args.size))
        photo = predict_photo(generator, grey, max_side=args.max_side, size=args.size, hints=hints)
        result = np.concatenate([cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), photo], axis=1) if args.side_by_side else photo
        given = f", hints {hints_path.name}" if hints_path else ", no hint file" if args.hints else ""
        return result, f"{grey.shape[1]}x{grey.shape[0]} px{given}"

    start = time.perf_counter()
    failed = convert_files(images, targets, convert)
    if len(images) > 1:
        print(f"{len(images) - len(failed)} of {len(images)} sketches turned into photos in {out} "
              f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return report_failures(failed, len(images), "sketches")


def hint_files(hints: str, source: Path, generator, model: str):
    """For ``predict --hints HINTS``: a function sketch path -> its hint file, or None (no hints).

    HINTS is one RGBA image (for one sketch) or a folder of them matched to the sketches by file
    name without suffix (a sketch with no match gets no hints; two matches, a.png and a.webp, are
    an error for that sketch only). Raises ValueError when the model takes no hints or HINTS does
    not fit SKETCH.
    """
    from sketchback.sketches.hints import takes_hints

    hints_path = Path(hints)
    if not takes_hints(generator):
        raise ValueError(f"--hints: {model} takes no colour hints (a model trained with models.<name>.hints does)")
    if not hints_path.exists():
        raise FileNotFoundError(f"--hints {hints_path} does not exist")
    if not hints_path.is_dir():
        if source.is_dir():
            raise ValueError(f"--hints {hints_path} is one file but {source} is a folder of sketches; give a folder "
                             f"of hint images named like the sketches")
        return lambda path: hints_path
    by_stem: dict[str, list[Path]] = {}
    for candidate in find_images(hints_path):
        by_stem.setdefault(candidate.stem, []).append(candidate)

    def lookup(path: Path) -> Path | None:
        matches = by_stem.get(path.stem, [])
        if len(matches) > 1:
            raise ValueError(f"{path}: several hint files match it ({', '.join(m.name for m in matches)}); keep one")
        return matches[0] if matches else None

    return lookup


def cmd_sketch(args) -> int:
    import cv2

    from sketchback.sketches.sketch import sketch_method

    source, out = Path(args.photo), Path(args.out)
    images = find_images(source)
    targets = output_paths(images, source, out, made="sketches")
    refuse_to_overwrite(source, out, targets, made="sketches", inputs="photos")
    method = sketch_method(args.method)
    params = method.resolve(parse_settings(args.set))  # unknown or bad parameters fail before any image is read
    # the seeded parts: pencil's paper grain; style's starting noise and its random VGG16 filters
    seeded = {key: args.seed for key in method.seeds}
    if params.get("vgg_weights") == "random":
        log.warning("%s: VGG16 with seeded random filters (the demo's); for the study's look pass "
                    "--set vgg_weights=resources/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", args.method)

    def convert(path: Path) -> tuple[np.ndarray, str]:
        sketch = method(read_grey(path, args.max_pixels), **params, **seeded)
        return cv2.cvtColor(sketch, cv2.COLOR_GRAY2RGB), f"{args.method} sketch, {sketch.shape[1]}x{sketch.shape[0]} px"

    return report_failures(convert_files(images, targets, convert), len(images), "photos")


def cmd_serve(args) -> int:
    from sketchback.evaluation.evaluate import load_generator
    from sketchback.tools.serve import Limits, SketchServer, model_paths

    for option in ("max_body", "workers", "connections"):
        if getattr(args, option) < 1:
            raise ValueError(f"--{option.replace('_', '-')} {getattr(args, option)}: give at least 1")
    if args.size is not None and args.size < 4:
        raise ValueError(f"--size {args.size}: give at least 4 px")
    limits = Limits(max_body=args.max_body, max_pixels=args.max_pixels, max_side=args.max_side or None,
                    size=args.size, workers=args.workers, queue=max(0, args.queue), wait=args.wait,
                    connections=args.connections)
    generators = {name: load_generator(path) for name, path in model_paths(args.model).items()}
    server = SketchServer((args.host, args.port), generators, limits, read_grey, predict_photo)
    host, port = server.server_address[:2]
    if not server.loopback:
        log.warning("listening on %s: anyone who can reach this machine can use the page (it has no login)", host)
    print(f"sketchback serve: {', '.join(generators)} on http://{host}:{port}/ (Ctrl-C stops)", file=sys.stderr,
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("sketchback serve: stopped", file=sys.stderr)
    finally:
        server.server_close()
    return 0


def model_side(shape: tuple[int, int], max_side: int | None, size: int | None) -> int:
    """The longer side a sketch of ``shape`` is run at by ``predict_photo``."""
    longest = max(shape)
    return size if size is not None else (min(longest, max_side) if max_side else longest)


def normaliser(args):
    """The sketch normaliser of ``--reference`` (default: the demo's pencil style) and ``--set``, as a
    function (grey, scale=) -> grey; bad settings and references fail before any image is read."""
    from sketchback.sketches import normalise as n

    params = n.resolve_params(parse_settings(args.set))
    if args.reference is None:
        target = n.builtin_reference()
    elif Path(args.reference).is_dir():
        target = n.measure_style(read_grey(p, args.max_pixels) for p in find_images(Path(args.reference)))
    else:
        target = n.load_reference(args.reference)
    log.info("normalising toward %s (%s)", target.as_dict(), args.reference or "pencil sketches of the demo's faces")
    return lambda grey, scale=1.0: n.normalise_sketch(grey, target, params, scale=scale)


def cmd_normalise(args) -> int:
    import cv2

    source, out = Path(args.sketch), Path(args.out)
    images = find_images(source)
    targets = output_paths(images, source, out, made="sketches")
    refuse_to_overwrite(source, out, targets, made="normalised sketches", inputs="sketches")
    if args.scale <= 0:
        raise ValueError(f"--scale {args.scale}: give a positive number (this sketch's px per reference px)")
    normalise = normaliser(args)

    def convert(path: Path) -> tuple[np.ndarray, str]:
        sketch = normalise(read_grey(path, args.max_pixels), scale=args.scale)
        return cv2.cvtColor(sketch, cv2.COLOR_GRAY2RGB), f"normalised, {sketch.shape[1]}x{sketch.shape[0]} px"

    return report_failures(convert_files(images, targets, convert), len(images), "sketches")


def plain(text: str) -> str:
    """A docstring as help text: reStructuredText's ``literal`` markup dropped."""
    return re.sub(r"``(.+?)``", r"\1", text)


LIMIT_HELP = (f"An image whose header declares more than --max-pixels is refused before it is decoded (default "
              f"{DEFAULT_MAX_PIXELS:,} px, twice Pillow's MAX_IMAGE_PIXELS, a decompression bomb guard); one over "
              f"half the limit gets a warning.")


def _add_max_pixels(parser) -> None:
    parser.add_argument("--max-pixels", type=max_pixels_option, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse an image of more than N pixels, read from its header before decoding, and "
                             f"warn above N/2 (default {DEFAULT_MAX_PIXELS} = {DEFAULT_MAX_PIXELS / 1e6:.0f} "
                             f"megapixels; 0 or none: no limit and no warning)")


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="turn a sketch (or a folder of sketches) into photos",
                       description="Turn a sketch, or every sketch in a folder (top level), into a photo of the same "
                                   "size. Unreadable files are reported at the end (exit status 1); the rest are done. "
                                   + LIMIT_HELP)
    p.add_argument("model", help="a trained generator, e.g. results/models/faces/generator.keras")
    p.add_argument("sketch", help="a sketch image or a folder of them (PNG/JPEG/..., any size, colour or grey, alpha)")
    p.add_argument("out", help="output .png/.jpg for one sketch, or a folder (photos are written as <name>.png)")
    p.add_argument("--side-by-side", action="store_true", help="write sketch | photo side by side")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help="run the model with the sketch's longer side scaled to PX (e.g. the image size the model "
                        "was trained at) and scale the photo back; default: the sketch's own size")
    p.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PX",
                   help=f"without --size, run sketches larger than PX scaled down to it (default {DEFAULT_MAX_SIDE}; "
                        "0 = never)")
    p.add_argument("--normalise", action="store_true",
                   help="bring the sketch toward the training style first, as sketchback normalise does (at the "
                        "size the model runs at)")
    _add_normaliser_options(p)
    p.add_argument("--hints", metavar="HINTS",
                   help="colour hints for a model trained with them: an RGBA image of the sketch's size, "
                        "transparent where there is no hint (each opaque pixel asks for its colour there), or a "
                        "folder of them named like the sketches (a sketch without one gets no hints)")
    _add_max_pixels(p)
    p.set_defaults(func=cmd_predict)


def _add_normaliser_options(parser) -> None:
    parser.add_argument("--reference", metavar="PATH",
                        help="the training style: a sketch shard (.npz, e.g. results/sketches/faces/pencil/train/"
                             "000.npz), a folder of sketches, or a JSON style (paper, ink, width); default: pencil "
                             "sketches of the demo's synthetic faces at 64 px")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="a normaliser setting, as in config normalise: (repeatable); the paper step is on by "
                             "default, --set width=true and --set contrast=true add the others")


def _add_sketch(sub) -> None:
    from sketchback.sketches.sketch import METHODS

    s = sub.add_parser("sketch", help="simulate a sketch of a photo (or of every photo in a folder)",
                       description="Sketch a photo, or every photo in a folder (top level), with one of the study's "
                                   "sketch methods. Unreadable files are reported at the end (exit status 1); the "
                                   "rest are done. " + LIMIT_HELP)
    s.add_argument("photo", help="a photo or a folder of them (PNG/JPEG/..., any size, colour or grey, alpha over white)")
    s.add_argument("out", help="output .png/.jpg for one photo, or a folder (sketches are written as <name>.png)")
    s.add_argument("--method", default="pencil", choices=list(METHODS),
                   help="default pencil; style (neural style transfer) takes seconds per image on a CPU")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a parameter of the method, as in config sketch.<method> (repeatable), e.g. --set sigma=1.2")
    s.add_argument("--seed", type=int, default=0, help="seed of pencil's paper grain and style's starting noise "
                                                       "(default 0; the same seed gives the same sketch)")
    _add_max_pixels(s)
    s.set_defaults(func=cmd_sketch)


def _add_normalise(sub) -> None:
    n = sub.add_parser("normalise", help="bring a rough sketch (or a folder of them) toward the training style",
                       description="Anti-roughing: flat-field the paper (tone and uneven lighting) and, with --set "
                                   "width=true / contrast=true, thin or thicken the strokes and stretch their "
                                   "darkness toward a reference style (the sketches a model was trained on). "
                                   "Unreadable files are reported at the end (exit status 1); the rest are done. "
                                   + LIMIT_HELP)
    n.add_argument("sketch", help="a sketch or a folder of them (PNG/JPEG/..., any size, colour or grey, alpha)")
    n.add_argument("out", help="output .png/.jpg for one sketch, or a folder (written as <name>.png)")
    _add_normaliser_options(n)
    n.add_argument("--scale", type=float, default=1.0,
                   help="this sketch's pixels per pixel of the reference (the target stroke width is the "
                        "reference's x SCALE), e.g. 4 for a 512 px scan of a drawing a 128 px model will see")
    _add_max_pixels(n)
    n.set_defaults(func=cmd_normalise)


def _add_serve(sub) -> None:
    from sketchback.tools.serve import Limits

    d = Limits()
    s = sub.add_parser("serve", help="a local web page: draw a sketch, see the photo after each stroke",
                       description="Serve a drawing page (mouse, pen or finger; eraser, undo, upload, download; "
                                   "colour hints for models that take them) that turns the sketch into a photo "
                                   "with the chosen model after each stroke. Fully offline: the page loads nothing "
                                   "from any other host. Limits per request: the body (--max-body, checked from "
                                   "Content-Length before reading, or while a chunked body streams), the pixels an "
                                   "image declares (--max-pixels, before decoding), the size the model runs at "
                                   "(--max-side), model runs at once (--workers) and waiting (--queue, each at most "
                                   "--wait seconds; more get 503 with Retry-After), open connections (--connections). "
                                   "Each bad request gets an error and the server keeps serving.")
    s.add_argument("model", nargs="+", metavar="MODEL",
                   help="a generator .keras file, or NAME=FILE; the page names results/models/faces/generator.keras "
                        "'faces'")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port)")
    s.add_argument("--max-body", type=int, default=d.max_body, metavar="BYTES",
                   help=f"refuse a request body over BYTES with 413 (default {d.max_body:,})")
    _add_max_pixels(s)
    s.add_argument("--max-side", type=int, default=d.max_side, metavar="PX",
                   help=f"run sketches larger than PX scaled down to it (default {d.max_side}; 0 = never)")
    s.add_argument("--size", type=int, default=None, metavar="PX",
                   help="run every sketch with its longer side scaled to PX (e.g. the model's training size)")
    s.add_argument("--workers", type=int, default=d.workers, help=f"model runs at once (default {d.workers})")
    s.add_argument("--queue", type=int, default=d.queue,
                   help=f"requests that may wait for a worker; more get 503 at once (default {d.queue})")
    s.add_argument("--wait", type=float, default=d.wait, metavar="SECONDS",
                   help=f"how long a request waits for a worker before it gets 503 (default {d.wait:g})")
    s.add_argument("--connections", type=int, default=d.connections,
                   help=f"open connections; more are answered 503 and closed (default {d.connections})")
    s.set_defaults(func=cmd_serve)


def cmd_export(args) -> int:
    from sketchback.tools.export import MissingDependency, export_model

    try:
        report = export_model(args.model, args.out, args.format, seed=args.seed)
    except MissingDependency as exc:
        print(f"sketchback: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary(), file=sys.stderr)
    return 0


def _add_export(sub) -> None:
    from sketchback.tools.export import CHECK_SHAPES, FORMATS, TOLERANCE

    shapes = " and ".join(f"{n}x{h}x{w}" for n, h, w in CHECK_SHAPES)
    e = sub.add_parser("export", help="export a generator to ONNX, TFLite or a TensorFlow SavedModel",
                       description=f"Export a trained generator for use without Sketchback: float32 in and out, any "
                                   f"batch and any height and width that are multiples of 4 (2 ** the model's downsamplings: 8 or 16 "
                                   f"with training.downsamplings 3 or 4) in all three formats "
                                   f"(input (N, H, W, C) in [0, 1], C as the model takes: 1, or 5 with colour hints; "
                                   f"output (N, H, W, 3) in [0, 1]). The export is run in its own runtime "
                                   f"(onnxruntime, the LiteRT/TFLite interpreter, TensorFlow) on seeded random sketches "
                                   f"(N x H x W: {shapes}) and must match the Keras model within {TOLERANCE:g}, else "
                                   f"nothing is written. ONNX needs the export extra: pip install 'sketchback[export]'.")
    e.add_argument("model", help="a generator .keras file, e.g. results/models/faces/generator.keras")
    e.add_argument("--format", required=True, choices=FORMATS, help="onnx: a .onnx file; tflite: a .tflite file; "
                                                                    "saved_model: a folder")
    e.add_argument("--out", default=None, metavar="PATH",
                   help="where to write it (default: beside the model, generator.onnx, generator.tflite or "
                        "generator_saved_model/); an existing export there is replaced")
    e.add_argument("--seed", type=int, default=0, help="seed of the random sketches the export is checked on")
    e.set_defaults(func=cmd_export)


def cmd_import_original(args) -> int:
    from sketchback.models.released import import_original

    import_original(args.weights, args.out, training_size=args.trained_at, origin=args.origin)
    return 0


def _add_import_original(sub) -> None:
    from sketchback.models.released import parse_training_size

    def trained_at(text: str) -> tuple[int, int]:
        try:
            return parse_training_size(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    i = sub.add_parser("import-original", help="convert one of the original study's released weight files",
                       description="Convert a weight file the original study (BKHMSI/Sketchback, Keras 2) released "
                                   "into a .keras model of its generator (architecture original), as rule "
                                   "import_released does. Its layers are matched by order and shape, not by name; "
                                   "the VGG16 feature model and layers without weights are skipped; the file "
                                   "model.save writes (model_weights) is read too. Any other file (a web page, a "
                                   "truncated download, another network's weights) is refused, naming what does "
                                   "not match, and nothing is written.")
    i.add_argument("weights", help="the original's weight file, e.g. resources/released/faces.h5 (HDF5, as Keras 2's "
                                   "save_weights or save wrote it)")
    i.add_argument("out", help="the model to write, a .keras file, e.g. results/models/released_faces/generator.keras")
    i.add_argument("--trained-at", type=trained_at, default=None, metavar="HxW",
                   help="rows x columns the weights were trained at (multiples of 8, e.g. 88x72 for the faces), "
                        "recorded in the model so inference runs at that size; default: a whole-model file's "
                        "input shape, else none")
    i.add_argument("--origin", default="", metavar="TEXT",
                   help="where the weights came from, recorded in the model (default: the file's name)")
    i.set_defaults(func=cmd_import_original)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sketchback", description=plain(__doc__))
    parser.add_argument("--version", action="version", version=f"sketchback {version('sketchback')}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_predict(sub)
    _add_sketch(sub)
    _add_normalise(sub)
    _add_serve(sub)
    _add_export(sub)
    _add_import_original(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"sketchback: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
