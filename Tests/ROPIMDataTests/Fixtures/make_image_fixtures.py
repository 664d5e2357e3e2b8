#!/usr/bin/env python3
"""PIL-parity fixtures for ImageCodec (issue 14, bug-08): tiny PNG and JPEG files of every container
ropim reads, and what PIL's Image.open(f).convert("L") and .convert("RGB") give for each.

Run from the repository root:   python3 Tests/ROPIMDataTests/Fixtures/make_image_fixtures.py
Needs Pillow and numpy; the YCCK JPEG also needs libturbojpeg (Debian libturbojpeg0), through ctypes.
Writes the files into this folder and Tests/ROPIMDataTests/ImageFixtures.swift, which embeds them and the
expected pixels as base64 (the test target has no resources, so the tests do not read this folder).

PNGs are written by PIL where PIL can write the kind, and otherwise by the small writer below, which also
cycles the five row filters and can interlace (Adam7), so that every decoding path has a fixture.
"""
import base64, ctypes, ctypes.util, io, os, struct, sys, warnings, zlib

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SWIFT = os.path.join(HERE, "..", "ImageFixtures.swift")
rng = np.random.default_rng(14)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def pack_row(samples, depth):
    """One row of samples (ints) as PNG bytes at `depth` bits per sample."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if depth == 8:
        return bytes(int(v) for v in samples)
    out, acc, bits = bytearray(), 0, 0
    for v in samples:
        acc = (acc << depth) | int(v)
        bits += depth
        if bits == 8:
            out.append(acc); acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def write_png(pixels, depth, color_type, interlace=False, before_idat=b""):
    """pixels: (h, w, samples) ints. Row filter = row number mod 5 within each pass."""
    h, w, n = pixels.shape
    bpp = max(1, n * depth // 8)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for (x0, y0, dx, dy) in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = None
        for y, row in enumerate(sub):
            line = pack_row(row.reshape(-1), depth)
            ft = y % 5
            enc = bytearray()
            for i, x in enumerate(line):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i] if prev is not None else 0
                c = prev[i - bpp] if prev is not None and i >= bpp else 0
                pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][ft]
                enc.append((x - pred) & 0xFF)
            raw += bytes([ft]) + enc
            prev = line
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + before_idat + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b""))


def saved(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, format=fmt, **kw)
    return b.getvalue()


def segments(jpeg):
    """(marker, start, end) of each header segment before the scan data."""
    out, i = [], 2
    while i < len(jpeg) and jpeg[i] == 0xFF:
        m = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        out.append((m, i, i + 2 + length))
        if m == 0xDA:
            break
        i += 2 + length
    return out


def ycck_jpeg(cmyk):
    """A YCCK JPEG (what Photoshop writes for CMYK) via TurboJPEG, which compresses CMYK pixels as YCCK."""
    lib = ctypes.CDLL(ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0")
    lib.tjInitCompress.restype = ctypes.c_void_p
    h = lib.tjInitCompress()
    out, size = ctypes.POINTER(ctypes.c_ubyte)(), ctypes.c_ulong(0)
    src = np.ascontiguousarray(cmyk, np.uint8)
    TJPF_CMYK, TJSAMP_444 = 11, 0
    rc = lib.tjCompress2(ctypes.c_void_p(h), src.ctypes.data_as(ctypes.c_void_p), src.shape[1], 0, src.shape[0], TJPF_CMYK,
                         ctypes.byref(out), ctypes.byref(size), TJSAMP_444, 75, 0)
    assert rc == 0, "tjCompress2 failed"
    data = bytes(out[:size.value])
    lib.tjFree(out)
    lib.tjDestroy(ctypes.c_void_p(h))
    return data


def stripes(h, w):
    """Pure red, green, blue and (128, 64, 200) stripes (bug-08's colours) over random colours."""
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    for k, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 64, 200)]):
        a[k, :] = c
    return a


def fixtures():
    f = {}
    pw = 9   # 9×9: every Adam7 pass is non-empty
    rgb = stripes(pw, pw)
    alpha = rng.integers(0, 256, (pw, pw, 1), dtype=np.uint8)
    gray = rng.integers(0, 256, (pw, pw, 1), dtype=np.uint8)
    gama1 = chunk(b"gAMA", struct.pack(">I", 100000))
    srgb = chunk(b"sRGB", b"\x00")
    iccp = chunk(b"iCCP", b"junk profile\x00\x00" + zlib.compress(bytes(range(200))))
    # PNG: 8-bit
    f["rgb8_filters_gama_srgb_iccp.png"] = write_png(rgb, 8, 2, before_idat=gama1 + srgb + iccp)
    f["rgb8_adam7.png"] = write_png(rgb, 8, 2, interlace=True)
    f["rgba8_pil.png"] = saved(Image.fromarray(np.concatenate([rgb, alpha], 2), "RGBA"), "PNG")
    f["la8_adam7.png"] = write_png(np.concatenate([gray, alpha], 2), 8, 4, interlace=True)
    f["gray8_gama1.png"] = write_png(gray, 8, 0, before_idat=gama1)
    f["palette8_pil.png"] = saved(Image.fromarray(rgb).quantize(colors=12), "PNG")
    # PNG: fewer bits
    f["gray1.png"] = write_png(rng.integers(0, 2, (pw, pw, 1)), 1, 0)
    f["gray2_adam7.png"] = write_png(rng.integers(0, 4, (pw, pw, 1)), 2, 0, interlace=True)
    f["gray4.png"] = write_png(rng.integers(0, 16, (pw, pw, 1)), 4, 0)
    plte3 = chunk(b"PLTE", bytes([250, 10, 20, 30, 200, 40, 5, 6, 255]))
    f["palette2_trns_index_past_palette.png"] = write_png(rng.integers(0, 4, (pw, pw, 1)), 2, 3,
                                                          before_idat=plte3 + chunk(b"tRNS", bytes([0, 128])))
    plte16 = chunk(b"PLTE", bytes(rng.integers(0, 256, 48, dtype=np.uint8)))
    f["palette4_adam7.png"] = write_png(rng.integers(0, 16, (pw, pw, 1)), 4, 3, interlace=True, before_idat=plte16)
    # PNG: 16-bit (PIL: grey as "I;16", clipped at 255 by convert; colour and LA keep the high byte)
    g16 = rng.integers(0, 65536, (pw, pw, 1))
    g16[0, :4, 0] = [0, 200, 255, 256]
    f["gray16.png"] = write_png(g16, 16, 0)
    f["rgb16_adam7.png"] = write_png(rng.integers(0, 65536, (pw, pw, 3)), 16, 2, interlace=True)
    f["rgba16.png"] = write_png(rng.integers(0, 65536, (pw, pw, 4)), 16, 6)
    f["la16.png"] = write_png(rng.integers(0, 65536, (pw, pw, 2)), 16, 4)
    # JPEG: 17×9, so 4:2:0 has a partial MCU and fancy upsampling meets an edge
    jrgb = stripes(9, 17)
    jrgb[4:] = np.clip(jrgb[4:].astype(int) // 3 + 80, 0, 255)   # some smooth area
    jpeg420 = saved(Image.fromarray(jrgb), "JPEG", quality=90, subsampling=2, optimize=True)
    f["rgb444.jpg"] = saved(Image.fromarray(jrgb), "JPEG", quality=90, subsampling=0, optimize=True)
    f["rgb420.jpg"] = jpeg420
    f["rgb422_progressive.jpg"] = saved(Image.fromarray(jrgb), "JPEG", quality=85, subsampling=1, progressive=True)
    f["gray.jpg"] = saved(Image.fromarray(jrgb).convert("L"), "JPEG", quality=90, optimize=True)
    cmyk = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    adobe = saved(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=75)
    f["cmyk_adobe.jpg"] = adobe
    app14 = [s for s in segments(adobe) if s[0] == 0xEE]
    assert app14, "PIL's CMYK JPEG has no Adobe segment"
    f["cmyk_no_adobe_marker.jpg"] = adobe[:app14[0][1]] + adobe[app14[0][2]:]
    try:
        f["ycck.jpg"] = ycck_jpeg(cmyk)
    except (OSError, AssertionError) as e:
        print(f"skipping ycck.jpg: {e}", file=sys.stderr)
    # JPEG with recoverable libjpeg warnings, which PIL decodes: junk before a header marker and before EOI.
    sof = [s for s in segments(jpeg420) if s[0] in (0xC0, 0xC1, 0xC2)][0]
    junk = jpeg420[:sof[1]] + b"\x00\x17\x2a" + jpeg420[sof[1]:]
    f["extraneous_bytes_before_markers.jpg"] = junk[:-2] + b"\x11\x22\x33\x44" + junk[-2:]
    # Errors in both: cut inside the image data, or only the end-of-image marker missing (PIL: "truncated").
    f["truncated.jpg"] = jpeg420[: len(jpeg420) * 3 // 4]
    f["no_end_marker.jpg"] = jpeg420[:-2]
    return f


def expected(data):
    """PIL's convert("L") and convert("RGB") (planar), or None when PIL cannot read the file."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        l = np.asarray(im.convert("L"), np.uint8)
        rgb = np.asarray(im.convert("RGB"), np.uint8).transpose(2, 0, 1)
        return im.mode, l.shape, l.tobytes(), rgb.tobytes()
    except OSError as e:
        return None, str(e)


def main():
    warnings.simplefilter("ignore")   # PIL's advice on palette transparency
    f = fixtures()
    for name in os.listdir(HERE):
        if name.endswith((".png", ".jpg")):
            os.remove(os.path.join(HERE, name))
    lines = []
    for name, data in f.items():
        with open(os.path.join(HERE, name), "wb") as out:
            out.write(data)
        e = expected(data)
        b64 = lambda b: base64.b64encode(b).decode()
        if e[0] is None:
            lines.append(f'        ImageFixture(name: "{name}", file: "{b64(data)}", pilMode: nil, height: 0, width: 0, gray: "", rgb: ""),'
                         f'  // PIL: {e[1]}')
        else:
            mode, (h, w), l, rgb = e
            lines.append(f'        ImageFixture(name: "{name}", file: "{b64(data)}", pilMode: "{mode}", height: {h}, width: {w},\n'
                         f'                     gray: "{b64(l)}",\n                     rgb: "{b64(rgb)}"),')
    total = sum(len(d) for d in f.values())
    swift = f'''// Generated by Fixtures/make_image_fixtures.py with Pillow {PIL.__version__} and numpy {np.__version__}; do not edit.
// {len(f)} tiny PNG/JPEG files ({total} bytes) and PIL's convert("L") / convert("RGB") of each (planar), base64.
// The files are also in Fixtures/ for inspection; the tests read them from here.

struct ImageFixture {{
    let name: String
    /// The file's bytes.
    let file: String
    /// PIL's mode on opening, or nil when PIL cannot read the file (ropim must fail too).
    let pilMode: String?
    let height: Int
    let width: Int
    /// PIL's convert("L"), row-major.
    let gray: String
    /// PIL's convert("RGB"), planar (R plane, G plane, B plane).
    let rgb: String

    static let all: [ImageFixture] = [
{chr(10).join(lines)}
    ]
}}
'''
    with open(SWIFT, "w") as out:
        out.write(swift)
    print(f"wrote {len(f)} fixtures ({total} bytes) and {os.path.normpath(SWIFT)}")


if __name__ == "__main__":
    main()
