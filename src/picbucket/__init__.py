"""Picbucket: a private-by-default image host for Google Cloud and for one machine.

Gunicorn runs ``picbucket:create_app()``.
"""

from picbucket.app import create_app

__all__ = ["create_app"]
