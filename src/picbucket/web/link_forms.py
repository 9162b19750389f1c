"""The link options a form or an API body asks for: one reading of each."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from picbucket.domain import InvalidInput
from picbucket.services.links import DEFAULT_EXPIRY, LinkOptions
from picbucket.web import schemas


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


def body_link_options(body: schemas.ShareBody | schemas.LinkBody | None) -> LinkOptions:
    """Return the options an API link body asked for (absent or null expiry: the default)."""
    if body is None:
        return LinkOptions()
    return LinkOptions(
        expiry=body.expires or DEFAULT_EXPIRY,
        password=body.password,
        max_views=body.max_views,
        allow_originals=getattr(body, "allow_originals", False),
    )
