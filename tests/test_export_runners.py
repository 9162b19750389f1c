"""Export runners: the thread runner end to end, the Cloud Run runner's one API call.

Cloud Run's Admin API cannot run here, so the Cloud Run runner is given a fake
``AuthorizedSession`` (and, once, a fake ``google.auth.default``); the tests assert
the request it makes (URL, body, timeout) and how refusals reach the owner.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import google.auth
import pytest
import requests
from google.auth.exceptions import DefaultCredentialsError

import imagefiles
from picbucket.adapters.export_runners import CloudRunExportRunner, ThreadExportRunner
from picbucket.domain import BackendUnavailable, Export, ExportStatus
from picbucket.ports import Backends
from picbucket.services.exports import (
    ExportPolicy,
    current_export,
    export_download,
    request_export,
)
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from picbucket.wiring import build_backends
from stacks import backends, make_user, settings

__all__ = ["backends", "settings"]  # fixtures, used by name
JOB = "projects/my-project/locations/europe-west1/jobs/picbucket-export"
POLICY = ExportPolicy(mode="job", stream_max_bytes=0, keep=timedelta(days=7))


@dataclass
class FakeResponse:
    status_code: int
    text: str = "{}"


@dataclass
class FakeSession:
    """Stands in for google-auth's AuthorizedSession: notes each POST, answers ``reply``."""

    reply: FakeResponse | Exception = field(default_factory=lambda: FakeResponse(200))
    posts: list[dict[str, Any]] = field(default_factory=list)

    def post(self, url: str, *, json: Any, timeout: float) -> FakeResponse:
        self.posts.append({"url": url, "json": json, "timeout": timeout})
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


@pytest.fixture
def job_backends(settings: Settings) -> Iterator[Backends]:
    """Backends of a job-mode app with no Cloud Run job set: exports build in a thread."""
    built = build_backends(replace(settings, export_mode="job"))
    try:
        yield built
    finally:
        built.close()


def wait_until_finished(backends: Backends, owner_id: str, within: float = 60.0) -> Export:
    """Poll the owner's export, as the settings page does, until it is no longer in progress."""
    deadline = time.monotonic() + within
    while True:
        export = current_export(backends, owner_id)
        assert export is not None
        if export.status in (ExportStatus.READY, ExportStatus.FAILED):
            return export
        assert time.monotonic() < deadline, f"export still {export.status} after {within} s"
        time.sleep(0.05)


def test_the_thread_runner_builds_the_export_end_to_end(
    job_backends: Backends, settings: Settings
) -> None:
    assert isinstance(job_backends.export_runner, ThreadExportRunner)
    alice = make_user(job_backends, "alice").id
    data = imagefiles.noise_png((20, 20), seed=3)
    image = store_image(job_backends, settings, alice, io.BytesIO(data), "sea.png")

    asked = request_export(job_backends, POLICY, alice)
    done = wait_until_finished(job_backends, alice)

    assert (done.id, done.status, done.photos_done) == (asked.id, ExportStatus.READY, 1)
    download = export_download(job_backends, alice, asked.id)
    assert download.stream is not None
    with download.stream, zipfile.ZipFile(io.BytesIO(download.stream.read())) as archive:
        assert archive.namelist() == [f"photos/sea-{image.id}.png", "manifest.json"]
        assert archive.read(f"photos/sea-{image.id}.png") == data


def test_wiring_builds_the_runner_the_settings_ask_for(tmp_path: Any) -> None:
    stream = build_backends(Settings(data_dir=tmp_path / "a"))
    cloud = build_backends(Settings(data_dir=tmp_path / "b", export_mode="job", export_job=JOB))
    try:
        assert stream.export_runner is None  # the embedded default streams
        assert isinstance(cloud.export_runner, CloudRunExportRunner)
    finally:
        stream.close()
        cloud.close()


def test_cloud_run_runner_starts_one_execution_with_the_build_command() -> None:
    session = FakeSession()

    CloudRunExportRunner(JOB, session=session).start("owner-1", "export-9")

    assert session.posts == [
        {
            "url": f"https://run.googleapis.com/v2/{JOB}:run",
            "json": {
                "overrides": {
                    "containerOverrides": [
                        {"args": ["exports", "build", "--", "owner-1", "export-9"]}
                    ]
                }
            },
            "timeout": 10.0,
        }
    ]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            FakeResponse(403, '{"error": {"status": "PERMISSION_DENIED"}}'),
            r"refused .* \(HTTP 403\)",
        ),
        (FakeResponse(404, '{"error": {"status": "NOT_FOUND"}}'), r"refused .* \(HTTP 404\)"),
        (FakeResponse(503), r"refused .* \(HTTP 503\)"),
        (requests.ConnectionError("connection reset"), "Could not reach Cloud Run"),
        (requests.Timeout("read timed out"), "Could not reach Cloud Run"),
    ],
)
def test_cloud_run_refusals_are_backend_unavailable(
    reply: FakeResponse | Exception, message: str
) -> None:
    session = FakeSession(reply=reply)

    with pytest.raises(BackendUnavailable, match=message) as caught:
        CloudRunExportRunner(JOB, session=session).start("owner-1", "export-9")

    assert JOB in str(caught.value)
    assert len(session.posts) == 1  # one request, no retry loop inside a web request


def test_cloud_run_without_credentials_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_credentials(**_: Any) -> Any:
        raise DefaultCredentialsError("no Application Default Credentials")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth, "default", no_credentials)

    with pytest.raises(BackendUnavailable, match="Could not reach Cloud Run"):
        CloudRunExportRunner(JOB).start("owner-1", "export-9")


def test_an_export_that_cannot_start_is_saved_failed(backends: Backends) -> None:
    alice = make_user(backends, "alice").id
    backends.export_runner = CloudRunExportRunner(JOB, session=FakeSession(FakeResponse(500)))

    with pytest.raises(BackendUnavailable, match="HTTP 500"):
        request_export(backends, POLICY, alice)

    shown = current_export(backends, alice)
    assert shown is not None and shown.status is ExportStatus.FAILED
    assert shown.error == "The export could not be started. Try again in a few minutes."
