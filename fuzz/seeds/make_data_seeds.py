"""Writes the seed files of the data harnesses (fuzz/seeds/{png,jpeg,npy,npz}): small, one per
variant the readers handle or refuse (PNG bit depths, colour types, palette, tRNS, interlace,
16-bit; baseline, progressive, grayscale and CMYK JPEG; every .npy dtype and header version,
Fortran order, big-endian; .npz stored and deflated). Run with the interop venv:
  .venv/bin/python fuzz/seeds/make_data_seeds.py"""
import io
import os
import zipfile

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(18)


def out(kind, name, data):
    os.makedirs(os.path.join(here, kind), exist_ok=True)
    with open(os.path.join(here, kind, name), "wb") as f:
        f.write(data)


def img_bytes(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


rgb = Image.fromarray(rng.integers(0, 256, (12, 9, 3), dtype=np.uint8), "RGB")
gray = rgb.convert("L")
out("png", "rgb.png", img_bytes(rgb, "PNG"))
out("png", "gray.png", img_bytes(gray, "PNG"))
out("png", "rgba.png", img_bytes(rgb.convert("RGBA"), "PNG"))
out("png", "gray_alpha.png", img_bytes(gray.convert("LA"), "PNG"))
out("png", "palette_trns.png", img_bytes(rgb.convert("P"), "PNG", transparency=3))
out("png", "bit1.png", img_bytes(gray.convert("1"), "PNG"))
out("png", "optimized.png", img_bytes(rgb, "PNG", optimize=True))
out("png", "gray16.png", img_bytes(Image.fromarray(rng.integers(0, 65535, (6, 5), dtype=np.uint16)), "PNG"))
out("jpeg", "rgb.jpg", img_bytes(rgb, "JPEG", quality=80))
out("jpeg", "gray.jpg", img_bytes(gray, "JPEG", quality=80))
out("jpeg", "progressive.jpg", img_bytes(rgb, "JPEG", progressive=True))
out("jpeg", "subsampled_420.jpg", img_bytes(rgb.resize((17, 13)), "JPEG", subsampling=2))
out("jpeg", "cmyk.jpg", img_bytes(rgb.convert("CMYK"), "JPEG"))


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


for dt in ("u1", "i1", "<f2", "<f4", "<i4", "<i8"):
    out("npy", f"{dt.strip('<')}.npy", npy_bytes(rng.integers(0, 9, (3, 4, 2)).astype(dt)))
out("npy", "scalar.npy", npy_bytes(np.float32(2.5)))
out("npy", "fortran.npy", npy_bytes(np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))))
out("npy", "big_endian.npy", npy_bytes(np.arange(4, dtype=">f4")))
v2 = io.BytesIO()
np.lib.format.write_array(v2, np.arange(5, dtype=np.uint8), version=(2, 0))
out("npy", "version2.npy", v2.getvalue())
for comp, name in ((zipfile.ZIP_STORED, "stored.npz"), (zipfile.ZIP_DEFLATED, "deflated.npz")):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", comp) as z:
        z.writestr("x_train.npy", npy_bytes(rng.integers(0, 255, (2, 4, 4, 1)).astype(np.uint8)))
        z.writestr("y_train.npy", npy_bytes(np.array([0, 1], dtype=np.int64)))
    out("npz", name, b.getvalue())
