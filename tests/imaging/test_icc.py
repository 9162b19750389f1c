"""ICC rebuild: same colours as the source profile, a recognisable name, nothing else kept."""

from __future__ import annotations

import io
import struct

import iccfiles
import pytest
from iccfiles import ADOBE, D65, MARKER, P3, WIDE
from PIL import Image, ImageCms

from picbucket.imaging.icc import display_p3, rebuild


def patch() -> Image.Image:
    """Return an RGB image of 4096 colours spread over the cube."""
    img = Image.new("RGB", (64, 64))
    img.putdata([(r * 17, g * 17, b * 17) for r in range(16) for g in range(16) for b in range(16)])
    return img


def to_srgb(icc: bytes, image: Image.Image) -> Image.Image:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    converted = ImageCms.applyTransform(
        image, ImageCms.buildTransform(source, target, image.mode, "RGB")
    )
    assert converted is not None  # None only when converting in place
    return converted


def assert_same_colours(original: bytes, rebuilt: bytes, image: Image.Image | None = None) -> None:
    image = image or patch()
    a, b = to_srgb(original, image).tobytes(), to_srgb(rebuilt, image).tobytes()
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1


def description(icc: bytes) -> str:
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()


def tag_names(icc: bytes) -> set[bytes]:
    (count,) = struct.unpack_from(">I", icc, 128)
    return {icc[132 + 12 * i : 136 + 12 * i] for i in range(count)}


def test_p3_stays_p3_and_the_private_payload_is_gone() -> None:
    source = iccfiles.p3_with_payload()
    rebuilt = rebuild(source)
    assert rebuilt is not None
    assert MARKER not in rebuilt
    assert len(rebuilt) < 1000
    assert description(rebuilt) == "Display P3"
    assert tag_names(rebuilt) <= {
        b"desc",
        b"cprt",
        b"wtpt",
        b"rXYZ",
        b"gXYZ",
        b"bXYZ",
        b"rTRC",
        b"gTRC",
        b"bTRC",
        b"chad",
    }
    assert_same_colours(source, rebuilt)


def test_littlecms_srgb_is_named_srgb_and_transforms_the_same() -> None:
    source = iccfiles.with_private_tag(iccfiles.srgb(), MARKER * 100)
    rebuilt = rebuild(source)
    assert rebuilt is not None and MARKER not in rebuilt
    assert description(rebuilt) == "sRGB"
    assert "No copyright" in ImageCms.getProfileCopyright(
        ImageCms.ImageCmsProfile(io.BytesIO(rebuilt))
    )
    assert_same_colours(source, rebuilt)


def test_adobe_rgb_with_d65_white_and_gamma_curve_is_recognised_as_v2() -> None:
    source = iccfiles.matrix_profile(ADOBE, iccfiles.gamma(563 / 256), white=D65)
    rebuilt = rebuild(source)
    assert rebuilt is not None
    assert rebuilt[8] == 2  # only curv curves: stays a v2 profile
    assert description(rebuilt) == "Adobe RGB (1998)"
    assert_same_colours(source, rebuilt)


def test_unknown_space_with_table_curve_keeps_its_colours_under_a_generic_name() -> None:
    table = [round(65535 * (i / 255) ** 1.8) for i in range(256)]
    source = iccfiles.matrix_profile(WIDE, iccfiles.curv(table))
    rebuilt = rebuild(source)
    assert rebuilt is not None
    assert description(rebuilt) == "Picbucket RGB"
    assert_same_colours(source, rebuilt)


def test_p3_primaries_with_another_curve_are_not_called_p3() -> None:
    rebuilt = rebuild(iccfiles.matrix_profile(P3, iccfiles.gamma(1.8)))
    assert rebuilt is not None and description(rebuilt) == "Picbucket RGB"


def test_gray_profile_is_rebuilt() -> None:
    source = iccfiles.profile(
        b"GRAY",
        [(b"wtpt", iccfiles.xyz(iccfiles.D50)), (b"kTRC", iccfiles.gamma(2.2)), (b"zzzz", MARKER)],
    )
    rebuilt = rebuild(source)
    assert rebuilt is not None and MARKER not in rebuilt
    gray = Image.linear_gradient("L")
    a = to_srgb(source, gray).tobytes()
    b = to_srgb(rebuilt, gray).tobytes()
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1


def lut_only() -> bytes:
    return iccfiles.profile(
        b"RGB ", [(b"wtpt", iccfiles.xyz(iccfiles.D50)), (b"A2B0", b"mft2" + b"\0" * 60)]
    )


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lut_only(), id="lut-only"),
        pytest.param(iccfiles.profile(b"CMYK", [(b"wtpt", iccfiles.xyz(iccfiles.D50))]), id="cmyk"),
        pytest.param(iccfiles.matrix_profile(P3, iccfiles.curv([0] * 4097)), id="huge-trc"),
        pytest.param(ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(), id="lab"),
        pytest.param(iccfiles.display_p3()[:-40], id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\0" * 200, id="zeros"),
    ],
)
def test_profiles_that_cannot_be_rebuilt_are_dropped(source: bytes) -> None:
    assert rebuild(source) is None


def test_device_link_is_dropped() -> None:
    link = bytearray(iccfiles.display_p3())
    link[12:16] = b"link"
    assert rebuild(bytes(link)) is None


def test_tag_pointing_outside_the_profile_is_dropped() -> None:
    bad = bytearray(iccfiles.display_p3())
    struct.pack_into(">I", bad, 132 + 4, 0x7FFFFFFF)
    assert rebuild(bytes(bad)) is None


def test_absurd_curve_parameters_drop_the_profile() -> None:
    # sRGB's curve but a gamma of -30000: it overflows when compared with sRGB's.
    g, a, b, c, d = -30000.0, *iccfiles.SRGB_PARA[2:]
    source = iccfiles.matrix_profile(P3, iccfiles.para(3, g, a, b, c, d))
    assert rebuild(source) is None


def test_canonical_display_p3_is_p3_and_stable_under_rebuild() -> None:
    canonical = display_p3()
    assert rebuild(canonical) == canonical  # already nothing but colorimetry
    assert description(canonical) == "Display P3"
    assert_same_colours(iccfiles.display_p3(), canonical)
    # The most saturated sRGB red is well inside P3: Apple's profile puts it at (234, 51, 35).
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(canonical))
    red = ImageCms.applyTransform(
        Image.new("RGB", (1, 1), (255, 0, 0)), ImageCms.buildTransform(srgb, p3, "RGB", "RGB")
    )
    assert red is not None
    pixel = red.getpixel((0, 0))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, (234, 51, 35), strict=True))
