"""The link options a form posts (image page, album share page): one reading of them."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from picbucket.domain import InvalidInput
from picbucket.services.links import DEFAULT_EXPIRY, LinkOptions

# As the API's ShareBody / LinkBody (web/schemas.py): a short password is no protection.
PASSWORD_LENGTHS = (4, 200)


def link_options(form: MultiDict[str, str], *, allow_originals: bool = False) -> LinkOptions:
    """Return the expiry, optional password and optional view limit a link form posted."""
    views = form.get("max_views", "").strip()
    if views and not views.isdigit():
        raise InvalidInput("The view limit is a whole number.")
    password = form.get("password") or None
    shortest, longest = PASSWORD_LENGTHS
    if password is not None and not shortest <= len(password) <= longest:
        raise InvalidInput(f"A link password is {shortest} to {longest} characters long.")
    return LinkOptions(
        expiry=form.get("expires", DEFAULT_EXPIRY),
        password=password,
        max_views=int(views) if views else None,
        allow_originals=allow_originals,
    )
