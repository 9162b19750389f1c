"""Google client errors mapped to domain errors, for every Firestore repository."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from picbucket.domain import BackendUnavailable, Conflict, NotFound, QuotaExceeded


@contextlib.contextmanager
def _translate(
    conflict: str = "",
    passthrough: type[BaseException] | tuple[type[BaseException], ...] | None = None,
) -> Iterator[None]:
    """Map Google client errors to domain errors; domain errors pass through."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        yield
    except (NotFound, Conflict, QuotaExceeded, BackendUnavailable):
        raise
    except gexc.GoogleAPICallError as exc:
        if passthrough is not None and isinstance(exc, passthrough):
            raise
        if isinstance(exc, gexc.NotFound):
            raise NotFound("No such record.") from exc
        if isinstance(exc, gexc.AlreadyExists | gexc.Conflict) and conflict:
            raise Conflict(conflict) from exc
        raise BackendUnavailable("Firestore failed; nothing was changed.") from exc
    except (gexc.GoogleAPIError, auth_exc.GoogleAuthError, ValueError) as exc:
        # ValueError: the transaction decorator gives up after its retries with one.
        if isinstance(exc, ValueError) and "transaction" not in str(exc).lower():
            raise
        raise BackendUnavailable("Firestore is busy; nothing was changed.") from exc
