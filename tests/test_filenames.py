"""One sanitiser makes every file name from a title: downloads, album zips, the export."""

from __future__ import annotations

import io
import zipfile

from flask.testing import FlaskClient

import imagefiles
from helpers import csrf_token, json_of, upload
from picbucket.filenames import file_stem
from picbucket.services.zips import safe_name

TRICKY = 'Café: "sunset"/..\\night\x00 '


def test_one_stem_for_zips_and_downloads() -> None:
    assert file_stem(TRICKY) == "Café_ _sunset_.._night_"
    assert file_stem(TRICKY, unsafe_as="", fallback="image") == "Café sunset..night"
    assert safe_name(TRICKY, "jpg", set()) == f"{file_stem(TRICKY)}.jpg"
    assert file_stem(" ... ") == "photo"
    assert len(file_stem("x" * 500)) == 120


def test_export_names_photos_with_the_same_sanitiser(alice: FlaskClient) -> None:
    made = json_of(upload(alice, imagefiles.jpeg(), "x.jpg"))
    csrf = {"X-CSRFToken": csrf_token(alice)}
    renamed = alice.patch(f"/api/v1/images/{made['id']}", json={"title": TRICKY}, headers=csrf)
    assert renamed.status_code == 200, renamed.json
    archive = zipfile.ZipFile(io.BytesIO(alice.get("/settings/export.zip").data))
    title = json_of(alice.get(f"/api/v1/images/{made['id']}"))["title"]
    assert title == 'Café: "sunset"/..\\night'  # the upload's clean_title trimmed the rest
    assert archive.namelist()[0] == f"photos/Café_ _sunset_.._night-{made['id']}.jpg"
