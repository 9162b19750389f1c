"""Access to the app's backends and settings from request handlers."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user

from picbucket.ports import Backends
from picbucket.settings import Settings


def backends() -> Backends:
    """Return the app's storage adapters."""
    found: Backends = current_app.extensions["picbucket"]
    return found


def settings() -> Settings:
    """Return the app's settings."""
    found: Settings = current_app.config["PICBUCKET_SETTINGS"]
    return found


def owner_id() -> str:
    """Return the signed-in user's id (call only behind ``login_required``)."""
    return str(current_user.user.id)
