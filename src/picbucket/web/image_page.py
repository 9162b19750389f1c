"""The owner's image page: its share links (copyable again), a just-made link, errors."""

from __future__ import annotations

from typing import Any

from flask import render_template, session

from picbucket.domain import Image
from picbucket.services import shares as share_service
from picbucket.web.context import backends, owner_id, settings
from picbucket.web.views import share_links, share_urls

# The session key naming the share just created (POST/redirect/GET: shown on the GET).
NEW_SHARE_KEY = "new_share_id"


def render_image_page(image: Image, *, title_error: str | None = None, title: str = "") -> str:
    """Render image.html with its links; show a just-created link once, highlighted."""
    key = settings().secret_key
    shares = share_service.list_shares(backends(), owner_id(), image.id)
    new_id = session.pop(NEW_SHARE_KEY, None)
    now = backends().clock()
    rows: list[dict[str, Any]] = []
    new_share = None
    for share in shares:
        token = share_service.recover_token(key, share) if share.is_live(now) else None
        rows.append(
            {"share": share, "url": share_urls(image, token)["share_url"] if token else None}
        )
        if share.id == new_id and token:
            new_share = {"share": share, "links": share_links(image, token)}
    live = [row for row in rows if row["url"]]
    return render_template(
        "image.html",
        image=image,
        shares=shares,
        share_rows=rows,
        public_url=live[0]["url"] if live else None,
        expiry_labels=share_service.EXPIRY_LABELS,
        new_share=new_share,
        title_error=title_error,
        title_value=title if title_error else image.title,
    )
