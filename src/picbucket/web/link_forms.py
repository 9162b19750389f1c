"""The link options a form posts (image page, album share page): one reading of them."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from picbucket.domain import InvalidInput
from picbucket.services.links import DEFAULT_EXPIRY, LinkOptions


def link_options(form: MultiDict[str, str], *, allow_originals: bool = False) -> LinkOptions:
    """Return the expiry, optional password and optional view limit a link form posted.

    The password's length is checked where it is hashed (services.passwords).
    """
    views = form.get("max_views", "").strip()
    if views and not views.isdigit():
        raise InvalidInput("The view limit is a whole number.")
    return LinkOptions(
        expiry=form.get("expires", DEFAULT_EXPIRY),
        password=form.get("password") or None,
        max_views=int(views) if views else None,
        allow_originals=allow_originals,
    )
