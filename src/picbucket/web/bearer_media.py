"""Who may read an owner's image bytes: the signed-in owner, or the owner's API token.

The API hands out ``image_url``/``display_url``/``thumbnail_url``; a script holding
the token must be able to fetch them. Reading bytes is a GET that changes nothing,
so no CSRF check applies; every state change still needs a session + CSRF or the API.
"""

from __future__ import annotations

from flask import current_app
from flask_login import current_user
from werkzeug.wrappers import Response

from picbucket.web.bearer import bearer_token, has_bearer
from picbucket.web.errors import error_response


def bytes_reader() -> str | Response:
    """Return the id of the owner whose bytes this request may read, or the answer to give.

    A request with an Authorization header is judged by its token alone (a bad token
    is a 401, never a fall-back to the session); otherwise the session decides, and a
    visitor is sent to sign in as before.
    """
    if has_bearer():
        token = bearer_token()
        if token is None:
            response = error_response(
                401, "unauthorized", "The API token is missing, malformed or revoked."
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="picbucket"'
            return response
        return token.owner_id
    if current_user.is_authenticated:
        return str(current_user.user.id)
    answer: Response = current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    return answer
