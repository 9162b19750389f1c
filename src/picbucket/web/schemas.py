"""Request and response shapes of API v1, declared once.

The API validates every query string and JSON body with these models, and
``web/openapi.py`` generates the published document from the same models, so the
two cannot disagree. Response models forbid unknown fields: a field added to
``views.image_json`` (or ``share_json``, ``quota_json``) must be declared here too,
or the schemathesis test in ``make test`` reports a schema mismatch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, WithJsonSchema

# The lifetimes a share link can have (services.shares.EXPIRY_CHOICES; a test keeps
# the two equal).
Expiry = Literal["1h", "1d", "7d", "30d", "never"]
MAX_PAGE = 200

Url = Annotated[str, Field(json_schema_extra={"format": "uri"})]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


# defer_build: validators are built on first use, not at import, which keeps about
# 20 ms of model building out of a Cloud Run cold start.


class Request(BaseModel):
    """A request shape: unknown JSON fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Query(BaseModel):
    """A query-string shape: unknown parameters are ignored (cache busters, tracking)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)


class Response(BaseModel):
    """A response shape: every field is always present, and there are no others."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


# Requests -----------------------------------------------------------------------------


class ListImagesQuery(Query):
    """Query of GET /images."""

    cursor: str | None = Field(None, description="next_cursor from the previous page.")
    limit: int | None = Field(
        None, ge=1, le=MAX_PAGE, description="Page size; the server's default when absent."
    )
    sort: Literal["taken", "uploaded"] = Field(
        "taken",
        description="Newest first by date taken (else upload date), or by upload date. "
        "A cursor works only with the sort it came from.",
    )
    q: str = Field(
        "",
        max_length=200,
        description="Only titles with words starting with each of these words "
        "(any case, accents ignored).",
    )


class UploadQuery(Query):
    """Query of POST /images."""

    share: Expiry | None = Field(None, description="Also create a public link with this lifetime.")


class UploadHeaders(BaseModel):
    """Request headers of POST /images."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    idempotency_key: str | None = Field(
        None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string per file (e.g. a random UUID). A retry with the same "
        "key and file within 24 h stores nothing new and answers the first result again "
        "(201, same image id, with Idempotent-Replayed: true); the same key with another "
        "file is refused with 409.",
    )


class UploadForm(BaseModel):
    """Multipart body of POST /images (validated by presence; the bytes by the pipeline)."""

    file: Annotated[Any, WithJsonSchema({"type": "string", "format": "binary"})] = Field(
        description="The image: JPEG, PNG, GIF, WebP, AVIF or HEIC."
    )


class RenameBody(Request):
    """Body of PATCH /images/{image_id}."""

    title: str = Field(description="New title; made single-line and cut to 200 characters.")


class ShareBody(Request):
    """Body of POST /images/{image_id}/shares (optional: no body means the default, 7 days)."""

    expires: Expiry | None = Field(
        None, description='How long the link works; null or absent: 7d. Only "never" is never.'
    )
    password: str | None = Field(
        None, min_length=4, max_length=200, description="Visitors must enter it (a form)."
    )
    max_views: int | None = Field(None, ge=1, le=1_000_000, description="Page opens allowed.")


class SharesQuery(Query):
    """Query of GET /shares."""

    image_id: str | None = Field(None, description="Only the links to this image.")


class StartUploadBody(Request):
    """Body of POST /uploads: the file about to be sent straight to the bucket."""

    size: StrictInt = Field(ge=1, description="The file's exact size in bytes.")
    content_type: str = Field(description="image/jpeg, image/png, image/gif or image/webp.")


class FinishUploadBody(Request):
    """Body of POST /uploads/{upload_id}/complete (optional)."""

    filename: str | None = Field(None, description="Original file name, for the title.")


# Responses ----------------------------------------------------------------------------
# Extend these when views.py returns more: Image mirrors views.image_json,
# Share views.share_json, Quota views.quota_json.


class Quota(Response):
    """Usage against the account's limits."""

    used_bytes: int
    max_bytes: int
    used_images: int
    max_images: int
    remaining_bytes: int
    max_upload_bytes: int


class Me(Response):
    """GET /me."""

    quota: Quota


class Image(Response):
    """One of the caller's images (views.image_json)."""

    id: str
    title: str
    width: int
    height: int
    bytes: int
    content_type: str
    created: DateTime
    taken_at: DateTime | None = Field(description="When the photo was taken (EXIF), if known.")
    thumbnail_width: int
    thumbnail_height: int
    page_url: Url
    image_url: Url = Field(description="The original file, as uploaded (metadata cleaned).")
    display_url: Url = Field(description="A rendition for screens; the original if small.")
    thumbnail_url: Url


class Share(Response):
    """A share link; its token is not stored, so listed links have no URLs."""

    id: str
    image_id: str = Field(description='The image; "" for an album link.')
    album_id: str | None = Field(description="The album of an album link, else null.")
    has_password: bool
    max_views: int | None
    views: int = Field(description="How many times the link's page was opened.")
    created: DateTime
    expires: DateTime | None
    revoked: DateTime | None


class NewShare(Share):
    """A share link just created, with its public URLs (shown this once)."""

    share_url: Url = Field(description="The public page.")
    share_image_url: Url = Field(description="The original file, for embedding.")
    share_display_url: Url = Field(description="The rendition for screens.")


class StoredImage(Image):
    """An image just stored, with the quota left and, if asked for, its share link."""

    quota: Quota
    share: NewShare | None = None
    duplicate: bool = Field(
        False, description="true: you already had this photo; it is returned, not charged again."
    )


class ImagePage(Response):
    """One page of images, newest first."""

    items: list[Image]
    next_cursor: str | None


class ShareList(Response):
    """The caller's share links, newest first."""

    items: list[Share]


class UploadTicket(Response):
    """Where and how to send a large file straight to the bucket."""

    upload_id: str
    url: Url
    method: str
    headers: dict[str, str]
    expires: DateTime


# Albums, trash and bulk actions -------------------------------------------------------

ImageIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=1000, description="Up to 1,000 of your image ids."),
]


class AlbumBody(Request):
    """Body of POST /albums."""

    title: str = Field(max_length=1000, description="Made single-line, cut to 200 characters.")
    description: str = Field("", max_length=2000)


class AlbumPatch(Request):
    """Body of PATCH /albums/{album_id}: what to change."""

    title: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=2000)
    order: Literal["manual", "taken"] | None = None
    cover_id: str | None = Field(None, max_length=64, description="A photo in the album.")


class LinkBody(Request):
    """Body of POST /albums/{album_id}/shares."""

    expires: Expiry | None = Field(None, description="Absent or null: 7d.")
    password: str | None = Field(None, min_length=4, max_length=200)
    max_views: int | None = Field(None, ge=1, le=1_000_000)
    allow_originals: bool = Field(False, description="Visitors may get the original files.")


class BulkBody(Request):
    """Body of POST /images/bulk: one action on many selected images."""

    action: Literal["trash", "restore", "add_to_album", "remove_from_album", "share_album"]
    image_ids: ImageIds
    album_id: str | None = Field(
        None, max_length=64, description="For add_to_album and remove_from_album."
    )
    title: str | None = Field(
        None, max_length=1000, description="share_album: the new album's title."
    )
    link: LinkBody | None = Field(None, description="share_album: the link's options.")


class Album(Response):
    """One of the caller's albums."""

    id: str
    title: str
    description: str
    order: Literal["manual", "taken"]
    cover_id: str | None
    created: DateTime
    photo_count: int
    page_url: Url


class AlbumList(Response):
    """The caller's albums, newest first."""

    items: list[Album]


class AlbumDetail(Album):
    """An album with its visible photos in order."""

    images: list[Image]


class NewAlbumShare(Share):
    """An album link just created, with its public page."""

    share_url: Url


class BulkResult(Response):
    """What a bulk action did."""

    action: str
    done: int = Field(description="How many images it changed.")
    image_ids: list[str] = Field(description="The images it changed.")
    album: Album | None
    share: NewAlbumShare | None


class TrashedImage(Response):
    """A photo in the trash."""

    id: str
    title: str
    bytes: int
    trashed_at: DateTime | None
    purge_at: DateTime | None


class TrashList(Response):
    """The caller's trash, most recently trashed first, and what it holds in bytes."""

    items: list[TrashedImage]
    trash_days: int
    bytes: int


class Emptied(Response):
    """POST /trash/empty."""

    deleted: int


class Document(BaseModel):
    """GET /openapi.json: this description (OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


class ErrorDetail(Response):
    """A stable machine-readable code and a message for people."""

    code: str
    message: str


class Error(Response):
    """Every API error."""

    error: ErrorDetail


# Validation ---------------------------------------------------------------------------


def error_message(exc: ValidationError) -> str:
    """Return one sentence per problem, each naming the field it is about."""
    parts = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "missing":
            parts.append(f"{field} is required.")
        elif error["type"] == "extra_forbidden":
            parts.append(f"{field} is not a field of this request.")
        elif error["type"] == "literal_error":
            choices = str(error.get("ctx", {}).get("expected", ""))
            choices = choices.replace("'", "").replace(" or ", ", ")
            parts.append(f"{field} must be one of {choices}.")
        else:
            parts.append(f"{field}: {error['msg']}.")
    return " ".join(parts)
