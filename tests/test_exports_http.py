"""Settings → "Take your photos with you" when the zip is prepared in the background.

Job mode (``export_mode="job"``) with a 0 MB streaming limit: every account with a
photo prepares its export. No ``export_job`` is set, so the app's own thread runner
builds the zip for real, into local disk or the GCS emulator. On GCS the download is a
redirect to a URL signed with a throwaway service-account key (the emulator ignores
signatures, so following it returns the stored zip).
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

import imagefiles
from conftest import csrf_token
from helpers import attribute, elements, json_of, parse, upload, user_id_of
from picbucket.dev.emulators import write_throwaway_key
from picbucket.domain import Export, ExportStatus, new_id
from picbucket.ports import Backends
from picbucket.settings import Settings

JOB = {"export_mode": "job", "export_stream_max_mb": 0}
BUILD_DEADLINE = 60.0  # seconds; three small photos take well under one


@pytest.fixture(params=["local", pytest.param("gcp", marks=pytest.mark.gcp)])
def backend_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Local disk + SQLite, or the emulators with a key that can sign download links."""
    if request.param == "gcp":
        gcp: dict[str, Any] = request.getfixturevalue("gcp_settings")
        return {**gcp, "signing_key_file": str(write_throwaway_key(tmp_path / "key.json"))}
    return {}


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Job mode unless a test passes other settings (indirect parametrisation)."""
    overrides: dict[str, Any] = getattr(request, "param", JOB)
    return overrides


def _upload_photos(client: FlaskClient, count: int = 3) -> list[dict[str, Any]]:
    return [
        json_of(upload(client, imagefiles.png((120 + 10 * i, 90)), f"Photo {i}.png"))
        for i in range(count)
    ]


def _prepare(client: FlaskClient) -> Any:
    return client.post("/settings/export", data={"csrf_token": csrf_token(client)})


def _status(client: FlaskClient, **query: str) -> Any:
    answer = client.get("/settings/export/status", query_string=query)
    assert answer.status_code == 200, answer.data
    assert answer.headers["Cache-Control"] == "no-store"
    return json_of(answer)


def _wait_for(client: FlaskClient, wanted: str) -> dict[str, Any]:
    """Poll the status JSON (as export.js does) until the export is ``wanted``."""
    deadline = time.monotonic() + BUILD_DEADLINE
    state: dict[str, Any] = _status(client)
    while state["status"] != wanted and time.monotonic() < deadline:
        assert state["status"] in ("pending", "running", wanted), state
        time.sleep(0.1)
        state = _status(client)
    assert state["status"] == wanted, state
    return state


def _export_section(client: FlaskClient) -> Any:
    page = client.get("/settings")
    assert page.status_code == 200
    (section,) = parse(page.get_data(as_text=True)).find("section", id="export")
    return section


def _settings_html(client: FlaskClient) -> str:
    return client.get("/settings").get_data(as_text=True)


def _delete_area_link(client: FlaskClient) -> tuple[str, str]:
    """Return the "keep your photos first" link offered before deleting the account."""
    (area,) = parse(_settings_html(client)).find("section", id="delete-account")
    (link,) = area.find("a")
    return link["href"], link.text


def _download_zip(client: FlaskClient, settings: Settings, url: str) -> tuple[zipfile.ZipFile, str]:
    """Download a ready export as the browser would; return the archive and its file name."""
    answer = client.get(url)
    if answer.status_code == 302:
        # Cloud Storage: a short-lived signed link; the object names itself as an attachment.
        link = answer.headers["Location"]
        assert "X-Goog-Signature=" in link and "X-Goog-Expires=900" in link, link
        assert answer.headers["Cache-Control"] == "no-store"
        fetched = requests.get(link, timeout=30)
        assert fetched.status_code == 200, fetched.text[:200]
        # Cloud Storage answers with the object's stored Content-Disposition; the
        # emulator does not send it back, so read it from the object's metadata.
        signed = urlsplit(link)
        key = unquote(signed.path).split(f"/{settings.gcs_bucket}/", 1)[1]
        metadata = requests.get(
            f"{signed.scheme}://{signed.netloc}/storage/v1/b/{settings.gcs_bucket}/o/"
            + quote(key, safe=""),
            timeout=10,
        )
        assert metadata.status_code == 200, metadata.text[:200]
        return zipfile.ZipFile(io.BytesIO(fetched.content)), metadata.json()["contentDisposition"]
    assert answer.status_code == 200, answer.data[:200]
    assert answer.mimetype == "application/zip"
    assert answer.headers["Cache-Control"] == "no-store"
    assert int(answer.headers["Content-Length"]) == len(answer.data)
    return zipfile.ZipFile(io.BytesIO(answer.data)), answer.headers["Content-Disposition"]


def test_prepare_follow_and_download_the_export(
    alice: FlaskClient, backends: Backends, settings: Settings
) -> None:
    photos = _upload_photos(alice)
    section = _export_section(alice)
    assert section.find("button", id="export-prepare"), "a large account prepares its export"
    assert not section.find("a", id="export-link"), "no direct download past the limit"
    assert _delete_area_link(alice) == ("#export", "Prepare an export")

    answer = _prepare(alice)
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/settings#export")
    started = _status(alice)
    assert started["status"] in ("pending", "running", "ready")

    ready = _wait_for(alice, "ready")
    assert (ready["photos_done"], ready["photos_total"]) == (3, 3)
    assert ready["bytes_written"] > 0 and ready["error"] is None
    assert ready["download_url"] == f"/settings/exports/{ready['id']}/download"

    section = _export_section(alice)
    assert "Ready" in section.text and "3 photos" in section.text
    assert "Available until" in section.text
    link = attribute(_settings_html(alice), "a", "href", id="export-download")
    assert link == ready["download_url"]

    assert _delete_area_link(alice) == (link, "Download your export")

    archive, disposition = _download_zip(alice, settings, link)
    assert re.fullmatch(
        r'attachment; filename="picbucket-export-\d{4}-\d{2}-\d{2}\.zip"', disposition
    ), disposition
    manifest = json.loads(archive.read("manifest.json"))
    assert {p["id"] for p in manifest["photos"]} == {p["id"] for p in photos}
    for photo in manifest["photos"]:
        image = backends.images.get(user_id_of(alice), photo["id"])
        assert image is not None
        with backends.blobs.open(image.original.key) as stored:
            assert archive.read(photo["file"]) == stored.read()


def test_a_second_request_while_one_is_prepared_starts_no_other(
    alice: FlaskClient, backends: Backends
) -> None:
    """One being built elsewhere (a job on another machine: its record says RUNNING)."""
    _upload_photos(alice, 1)
    owner = user_id_of(alice)
    now = backends.clock()
    running = Export(
        id=new_id(),
        owner_id=owner,
        status=ExportStatus.RUNNING,
        created=now,
        updated=now,
        expires=now + timedelta(days=1),
        photos_total=5000,
        photos_done=1234,
        bytes_written=2_254_857_830,
    )
    backends.exports.add(running)

    answer = _prepare(alice)
    assert answer.status_code == 303
    assert [e.id for e in backends.exports.for_owner(owner)] == [running.id]
    page = _settings_html(alice)
    assert "already being prepared" in page
    progress = elements(page, "progress", id="export-progress")
    assert progress and (progress[0]["value"], progress[0]["max"]) == ("1234", "5000")
    assert "Preparing your export: 1,234 of 5,000 photos, 2.10 GB so far" in page
    # Without JavaScript, a plain link brings the page up to date.
    assert attribute(page, "a", "href", id="export-refresh") == "/settings#export"
    state = _status(alice)
    assert (state["id"], state["status"], state["photos_done"]) == (running.id, "running", 1234)
    assert state["download_url"] is None


def test_another_persons_export_is_not_found(
    alice: FlaskClient, bob: FlaskClient, backends: Backends
) -> None:
    _upload_photos(alice, 1)
    assert _prepare(alice).status_code == 303
    ready = _wait_for(alice, "ready")
    for path in (
        f"/settings/export/status?id={ready['id']}",
        f"/settings/exports/{ready['id']}/download",
        f"/settings/exports/{new_id()}/download",
    ):
        assert bob.get(path).status_code == 404, path
    assert alice.get(f"/settings/export/status?id={new_id()}").status_code == 404
    # Not ids at all: a plain 404, never a backend error (Firestore refuses such names).
    for made_up in ("__x__", "a%2Fb", "..", "x" * 1600):
        assert alice.get(f"/settings/export/status?id={made_up}").status_code == 404, made_up
        assert alice.get(f"/settings/exports/{made_up}/download").status_code == 404, made_up
    # Bob has no export of his own: every field is empty, nothing of alice's shows.
    nothing = _status(bob)
    assert nothing.keys() == _status(alice).keys() and set(nothing.values()) == {None}


def test_preparing_needs_the_csrf_token(alice: FlaskClient, backends: Backends) -> None:
    _upload_photos(alice, 1)
    answer = alice.post("/settings/export")
    assert answer.status_code == 400
    assert "expired" in answer.get_data(as_text=True)
    assert backends.exports.for_owner(user_id_of(alice)) == []
    # A GET of the form's address (a reload) changes nothing either.
    assert alice.get("/settings/export").headers["Location"].endswith("/settings#export")
    assert backends.exports.for_owner(user_id_of(alice)) == []


@pytest.mark.parametrize(
    "settings_overrides",
    [{}, {"export_mode": "job", "export_stream_max_mb": 1}],
    ids=["stream-mode", "small-account"],
    indirect=True,
)
def test_stream_mode_and_small_accounts_keep_the_direct_download(
    alice: FlaskClient, backends: Backends
) -> None:
    _upload_photos(alice, 2)
    section = _export_section(alice)
    assert attribute(_settings_html(alice), "a", "href", id="export-link") == "/settings/export.zip"
    assert not section.find("button", id="export-prepare")
    # Posting the form anyway starts nothing: the direct download is what is offered.
    assert _prepare(alice).status_code == 303
    assert backends.exports.for_owner(user_id_of(alice)) == []
    assert alice.get("/settings/export.zip").mimetype == "application/zip"


def test_an_interrupted_export_says_so_and_can_be_tried_again(
    alice: FlaskClient, backends: Backends
) -> None:
    _upload_photos(alice, 2)
    owner = user_id_of(alice)
    long_ago = backends.clock() - timedelta(minutes=11)
    stalled = Export(
        id=new_id(),
        owner_id=owner,
        status=ExportStatus.RUNNING,
        created=long_ago,
        updated=long_ago,
        expires=long_ago + timedelta(days=1),
        photos_total=2,
        photos_done=1,
    )
    backends.exports.add(stalled)

    section = _export_section(alice)
    assert "The export was interrupted. Try again." in section.text
    assert section.find("button", id="export-retry")
    state = _status(alice)
    assert (state["status"], state["error"]) == ("failed", "The export was interrupted. Try again.")

    assert _prepare(alice).status_code == 303  # "Try again"
    ready = _wait_for(alice, "ready")
    assert ready["id"] != stalled.id and ready["photos_total"] == 2


def test_a_failed_export_shows_its_reason(alice: FlaskClient, backends: Backends) -> None:
    _upload_photos(alice, 1)
    now = backends.clock()
    failed = Export(
        id=new_id(),
        owner_id=user_id_of(alice),
        status=ExportStatus.FAILED,
        created=now,
        updated=now,
        expires=now + timedelta(days=1),
        error="Storage was not available while your photos were read.",
    )
    backends.exports.add(failed)
    section = _export_section(alice)
    assert "Storage was not available while your photos were read." in section.text
    assert [b.text.strip() for b in section.find("button", id="export-retry")] == ["Try again"]
    assert alice.get(f"/settings/exports/{failed.id}/download").status_code == 404


def test_a_large_accounts_direct_link_leads_to_prepare_export(
    alice: FlaskClient, backends: Backends
) -> None:
    """Streamed, a zip past the request timeout would be cut off: the old link explains."""
    _upload_photos(alice, 1)
    answer = alice.get("/settings/export.zip")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/settings#export")
    assert "prepare an export" in alice.get("/settings").get_data(as_text=True)
    assert backends.exports.for_owner(user_id_of(alice)) == []  # nothing started by a GET


def test_an_older_export_asked_about_by_id_reads_interrupted_once_it_stalls(
    alice: FlaskClient, backends: Backends
) -> None:
    """A tab still following an export that stopped moving is told, not left polling."""
    _upload_photos(alice, 1)
    long_ago = backends.clock() - timedelta(minutes=30)
    stalled = Export(
        id=new_id(),
        owner_id=user_id_of(alice),
        status=ExportStatus.RUNNING,
        created=long_ago,
        updated=long_ago,
        expires=long_ago + timedelta(days=1),
    )
    backends.exports.add(stalled)
    assert _prepare(alice).status_code == 303  # a newer one replaces it on the page
    _wait_for(alice, "ready")
    state = _status(alice, id=stalled.id)
    assert (state["status"], state["error"]) == ("failed", "The export was interrupted. Try again.")
