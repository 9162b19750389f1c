"""Where exports are built: a thread of this process, or a Cloud Run job execution.

Both run ``services.exports.build_export``; the job runs it as
``picbucket exports build OWNER EXPORT_ID`` (cli.py). ``build_export`` records a
failure on the export itself, so a runner only has to start it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from picbucket.domain import BackendUnavailable

if TYPE_CHECKING:
    from picbucket.ports import Backends
    from picbucket.services.exports import ExportPolicy

log = logging.getLogger(__name__)

RUN_API = "https://run.googleapis.com/v2"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# One request: it only queues an execution (the API answers with a long-running
# operation at once), so a slow answer means the API is in trouble.
START_TIMEOUT = 10.0


class ThreadExportRunner:
    """Build in a daemon thread of this process (one machine; tests).

    A stopped process leaves the export RUNNING; it then reads as interrupted and the
    owner may ask again.
    """

    def __init__(self, backends: Backends, policy: ExportPolicy) -> None:
        self._backends = backends
        self._policy = policy

    def start(self, owner_id: str, export_id: str) -> None:
        """Start building in the background."""
        thread = threading.Thread(
            target=self._build, args=(owner_id, export_id), name=f"export-{export_id}"
        )
        thread.daemon = True  # a stop mid-way is fine: the export reads as interrupted
        thread.start()

    def _build(self, owner_id: str, export_id: str) -> None:
        from picbucket.services.exports import build_export

        try:
            build_export(self._backends, self._policy, owner_id, export_id)
        except Exception:
            log.exception("export %s of %s stopped", export_id, owner_id)


class CloudRunExportRunner:
    """Start an execution of the export Cloud Run job (Run Admin API v2 ``jobs:run``)."""

    def __init__(self, job: str, session: Any = None, timeout: float = START_TIMEOUT) -> None:
        """``job``: projects/<p>/locations/<r>/jobs/<name>; ``session``: an
        ``AuthorizedSession`` (built from Application Default Credentials if None)."""
        self._job = job
        self._session = session
        self._timeout = timeout
        self._lock = threading.Lock()

    def start(self, owner_id: str, export_id: str) -> None:
        """Run the job once for this export; ``BackendUnavailable`` if Cloud Run refuses."""
        body = {"overrides": {"containerOverrides": [{"args": self.args(owner_id, export_id)}]}}
        try:
            response = self._authorized().post(
                f"{RUN_API}/{self._job}:run", json=body, timeout=self._timeout
            )
        except Exception as exc:
            # google.auth and requests errors alike: the job could not be reached.
            raise BackendUnavailable(
                f"Could not reach Cloud Run to start the export job {self._job}."
            ) from exc
        if response.status_code >= 400:
            log.error(
                "Cloud Run refused to run %s: HTTP %s %s",
                self._job,
                response.status_code,
                response.text[:500],
            )
            raise BackendUnavailable(
                f"Cloud Run refused to start the export job {self._job} "
                f"(HTTP {response.status_code})."
            )

    @staticmethod
    def args(owner_id: str, export_id: str) -> list[str]:
        """Return the job's container arguments (the image's entry point is ``picbucket``).

        ``--`` ends the options: ids are URL-safe base64, and one in 64 begins with
        ``-``, which the command line would otherwise read as an option.
        """
        return ["exports", "build", "--", owner_id, export_id]

    def _authorized(self) -> Any:
        with self._lock:
            if self._session is None:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                credentials, _project = google.auth.default(scopes=[SCOPE])
                self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
            return self._session
