"""Serve stored image bytes safely: stored type, nosniff, sandbox CSP, ETag, Range."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

from flask import Response, abort, request
from werkzeug.datastructures import ContentRange

from picbucket.domain import Variant
from picbucket.filenames import extension_of, file_stem
from picbucket.web.context import backends
from picbucket.web.security import MEDIA_CSP

_CHUNK = 256 * 1024


def download_filename(title: str, variant: Variant) -> str:
    """Return the file name a person gets for ``variant``: the image's title and its extension.

    The one place download names are made: the title is what the person called the
    photo, so "Beach at noon.jpg" lands in Downloads, not "original.jpg".
    """
    # The one sanitiser (picbucket.filenames); a download drops unsafe characters.
    return f"{file_stem(title, fallback='image', unsafe_as='')}.{extension_of(variant)}"


def content_disposition(kind: str, filename: str) -> str:
    """Return a Content-Disposition header: an ASCII name, and the exact one (RFC 6266)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    fallback = fallback.replace('"', "_").replace("\\", "_")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def variant_response(
    variant: Variant,
    *,
    cache_control: str,
    download_name: str,
    embeddable: bool = False,
    attachment: bool = False,
) -> Response:
    """Stream a stored variant, answering conditional and Range requests.

    The record knows each variant's size and sha256, so a 304 or a 416 costs no
    storage round trip, and the ETag is the content hash.
    """
    etag = variant.sha256
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": cache_control,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": MEDIA_CSP,
        "Content-Disposition": content_disposition(
            "attachment" if attachment else "inline", download_name
        ),
        # Share-link images are meant to be embedded anywhere; private ones nowhere else.
        "Cross-Origin-Resource-Policy": "cross-origin" if embeddable else "same-origin",
    }
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    start, end, status = 0, variant.size - 1, 200
    byte_range = request.range
    # If-Range: only honour the range if the client's copy is still current.
    if_range_ok = "If-Range" not in request.headers or request.if_range.etag == etag
    # One range is served; several (rare, and costly to stream) get the whole file.
    if byte_range is not None and if_range_ok and len(byte_range.ranges) == 1:
        bounds = byte_range.range_for_length(variant.size)
        if bounds is None:
            headers["Content-Range"] = f"bytes */{variant.size}"
            return Response(status=416, headers=headers)
        start, stop = bounds
        end, status = stop - 1, 206
        headers["Content-Range"] = ContentRange("bytes", start, stop, variant.size).to_header()
    if variant.size == 0:
        abort(404)
    stream = backends().blobs.open(variant.key, start=start, end=end)
    response = Response(
        stream_blob(stream),
        status=status,
        headers=headers,
        mimetype=variant.content_type,
        direct_passthrough=True,
    )
    response.content_length = end - start + 1
    return response


def stream_blob(stream: BinaryIO) -> Iterator[bytes]:
    """Yield an open blob's bytes, closing it however the response ends (cancelled too)."""
    try:
        while chunk := stream.read(_CHUNK):
            yield chunk
    finally:
        stream.close()
