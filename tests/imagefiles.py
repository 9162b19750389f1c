"""Test images made on the fly with Pillow: no binary fixtures in the repo."""

from __future__ import annotations

import io

from PIL import Image, ImageCms

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg(
    size: tuple[int, int] = (640, 480),
    *,
    orientation: int | None = None,
    gps: bool = False,
    icc: bool = False,
    color: str = "red",
) -> bytes:
    """Return a JPEG, optionally with EXIF orientation, GPS and an ICC profile."""
    img = Image.new("RGB", size, color)
    # A marker pixel block in the top-left so orientation can be checked.
    img.paste((0, 0, 255), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    if gps:
        exif[0x010F] = "TestCam"
        gps_ifd = exif.get_ifd(GPS_IFD)
        gps_ifd[1] = "N"
        gps_ifd[2] = (51.0, 30.0, 0.0)
        gps_ifd[3] = "W"
        gps_ifd[4] = (0.0, 7.0, 0.0)
    out = io.BytesIO()
    options: dict[str, object] = {"exif": exif.tobytes(), "quality": 92}
    if icc:
        options["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img.save(out, "JPEG", **options)
    return out.getvalue()


def png(size: tuple[int, int] = (300, 200), mode: str = "RGBA") -> bytes:
    """Return a PNG."""
    out = io.BytesIO()
    Image.new(mode, size, (0, 128, 0, 200) if mode == "RGBA" else "green").save(out, "PNG")
    return out.getvalue()


def gif(frames: int = 3, size: tuple[int, int] = (64, 48)) -> bytes:
    """Return an animated GIF."""
    images = [Image.new("RGB", size, (i * 30 % 256, 255 - i * 20 % 256, 90)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return out.getvalue()


def webp(size: tuple[int, int] = (200, 150)) -> bytes:
    """Return a WebP."""
    out = io.BytesIO()
    Image.new("RGB", size, "purple").save(out, "WEBP")
    return out.getvalue()


def webp_animated(frames: int = 3, size: tuple[int, int] = (32, 24)) -> bytes:
    """Return an animated WebP."""
    images = [Image.new("RGB", size, (i * 60, 90, 200 - i * 50)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "WEBP", save_all=True, append_images=images[1:], duration=80)
    return out.getvalue()


def noise_png(size: tuple[int, int], seed: int = 1) -> bytes:
    """Return an incompressible PNG of about width x height x 3 bytes."""
    import random

    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()
