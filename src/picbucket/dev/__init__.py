"""Local stand-ins for Google used by `make run`, `make run-emulated` and the tests.

Never imported by the production app; oidc-provider-mock is not even installed there.
"""
