"""images.py's reading of an image file's declared size (the pixel checks of arrays are tested through
the sketch methods). Also the hand-made files that declare a huge size, used by test_cli.py."""

import math
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from sketchback.images import DEFAULT_MAX_PIXELS, declared_size


def png_declaring(width: int, height: int, rows: int = 32) -> bytes:
    """A grey PNG whose IHDR declares width x height px, holding the first ``rows`` rows of black
    pixels: about 1 KB with 32 rows, however large it says it is; with every row, a decompression bomb
    (30000 x 30000 px in 0.9 MB, deflate's limit of about 1:1000)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, deflate, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zero_rows(width, rows))
            + chunk(b"IEND", b""))


def zero_rows(width: int, rows: int) -> bytes:
    """A zlib stream of ``rows`` PNG rows of black (filter byte 0, then zeros), deflated in 0.1 s
    however many: one block of rows is deflated and repeated (a full flush makes each copy stand alone)."""
    step = math.gcd(rows, 1000)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(bytes((width + 1) * step)) + deflate.flush(zlib.Z_FULL_FLUSH)
    n = (width + 1) * rows  # Adler-32 of n zero bytes: A = 1, B = n (mod 65521)
    return b"\x78\xda" + block * (rows // step) + deflate.flush() + struct.pack(">I", (n % 65521) << 16 | 1)


def jpeg_declaring(width: int, height: int) -> bytes:
    """An 8 x 8 JPEG whose frame header (SOF) is rewritten to declare width x height px."""
    data = bytearray(cv2.imencode(".jpg", np.full((8, 8), 255, np.uint8))[1].tobytes())
    i = 2  # after SOI; walk the marker segments (FF xx, 2-byte length) to the frame header
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)  # after marker, length and precision
    return bytes(data)


def test_declared_size_agrees_with_what_opencv_decodes_in_every_input_format(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), np.uint8)  # odd sizes: width and height apart
    image = Image.fromarray(rgb)
    rotated = Image.Exif()
    rotated[0x0112] = 6  # EXIF orientation: OpenCV turns it when decoding in colour; the pixel count stays
    saves = {"rgb.png": (image, {}), "grey.png": (image.convert("L"), {}), "rgba.png": (image.convert("RGBA"), {}),
             "palette.png": (image.convert("P"), {}),
             "grey16.png": (Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), {}),
             "base.jpg": (image, {}), "progressive.jpg": (image, {"progressive": True}),
             "rotated.jpg": (image, {"exif": rotated}), "rgb.bmp": (image, {}), "palette.bmp": (image.convert("P"), {}),
             "lzw.tif": (image, {"compression": "tiff_lzw"}), "lossy.webp": (image, {}),
             "lossless.webp": (image, {"lossless": True}), "alpha.webp": (image.convert("RGBA"), {})}
    for name, (img, options) in saves.items():
        img.save(tmp_path / name, **options)
    cv2.imwrite(str(tmp_path / "opencv.tiff"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "opencv.bmp"), rgb)
    for path in sorted(tmp_path.iterdir()):
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert declared_size(path) == (decoded.shape[1], decoded.shape[0]) == (53, 37), path.name


def test_the_hand_made_png_is_a_valid_png(tmp_path):
    (tmp_path / "all.png").write_bytes(png_declaring(517, 123, rows=123))
    assert zlib.decompress(zero_rows(517, 123)) == bytes(518 * 123)
    decoded = cv2.imread(str(tmp_path / "all.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, np.zeros((123, 517), np.uint8))
    assert declared_size(tmp_path / "all.png") == (517, 123)


def test_a_bomb_s_declared_size_is_read_without_decoding_it(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_declaring(30000, 30000))
    (tmp_path / "bomb.jpg").write_bytes(jpeg_declaring(60000, 50000))  # 3 gigapixels: over Pillow's own limit
    assert (tmp_path / "bomb.png").stat().st_size < 2000
    limit = Image.MAX_IMAGE_PIXELS
    start = time.perf_counter()
    assert declared_size(tmp_path / "bomb.png") == (30000, 30000)
    assert declared_size(tmp_path / "bomb.jpg") == (60000, 50000)
    assert time.perf_counter() - start < 0.5  # decoding 900 megapixels takes some 30 s and 6 GB
    assert Image.MAX_IMAGE_PIXELS == limit == DEFAULT_MAX_PIXELS // 2  # Pillow's own guard is left as it was


@pytest.mark.parametrize("data", [b"not an image at all", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10,
                                  b"\xff\xd8\xff", b"BM" + b"\0" * 10, b"II*\0" + b"\xff" * 8, b"RIFF\0\0\0\0WEBPVP8 "])
def test_a_header_that_cannot_be_read_gives_none(tmp_path, data):
    (tmp_path / "broken.png").write_bytes(data)
    assert declared_size(tmp_path / "broken.png") is None
