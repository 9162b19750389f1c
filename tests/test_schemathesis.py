"""Fuzz the running API with schemathesis against the OpenAPI document it publishes.

A real app (local disk + SQLite) is served by werkzeug's threaded server on a free
port; the fuzzer signs in with an API token made through the services for a test
user who already has photos and a share link, so list answers have items to check.
Every operation gets a bounded number of generated cases; any 5xx, an undocumented
status, or an answer that does not match its declared schema fails the test.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from werkzeug.serving import make_server

import imagefiles
from picbucket import create_app
from picbucket.ports import Backends
from picbucket.services import links, tokens
from picbucket.services.accounts import sign_in
from picbucket.services.uploads import store_image
from picbucket.settings import Settings
from picbucket.web.api import OPERATIONS

# Cases per operation and mode: 11 operations x 2 modes x this stays well under a minute on 2 cores.
CASES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def served(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Serve a fresh app on a free port; return its base URL and an API token."""
    config = Settings(
        data_dir=Path(tmp_path_factory.mktemp("fuzz")),
        oidc_issuer=issuer,
        oidc_local=True,
        secret_key="test-secret-key-that-is-long-enough-for-tests",
        # The fuzzer is one client sending hundreds of requests a minute on purpose.
        rate_limit_api="100000 per minute",
        rate_limit_upload="100000 per minute",
    )
    config.validate()
    app = create_app(config)
    backends: Backends = app.extensions["picbucket"]
    user = sign_in(
        backends,
        config,
        issuer,
        {"sub": "fuzzer", "email": "fuzzer@example.com", "email_verified": True},
    )
    _, secret = tokens.create_token(backends, user.id, "schemathesis")
    with app.app_context():
        for name, data in (("a.png", imagefiles.png()), ("b.jpg", imagefiles.jpeg())):
            image = store_image(backends, config, user.id, io.BytesIO(data), name)
        links.create_link(backends, user.id, links.LinkOptions("7d"), image_id=image.id)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", secret
    finally:
        server.shutdown()
        thread.join(timeout=10)
        backends.close()


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, secret: str
) -> Counter[int]:
    """Send up to CASES generated requests for one operation; count answers by status.

    Raise on the first failed check.
    """
    statuses: Counter[int] = Counter()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=CASES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS
        )
        statuses[response.status_code] += 1

    run()
    return statuses


def test_api_answers_match_its_document(served: tuple[str, str]) -> None:
    """No generated request gets a 5xx or an answer outside the published document."""
    base_url, secret = served
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    # schemathesis leaves out the document's own URL; every other route is fuzzed.
    declared = {f"{op.method} {op.path}" for op in OPERATIONS if op.path != "/openapi.json"}
    assert {operation.label for operation in operations} == declared
    failures = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                statuses += _fuzz(operation, mode, secret)
            except Exception as exc:  # collect every operation's failure
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert failures == [], "\n\n".join(failures)
    print(f"schemathesis: {sum(statuses.values())} requests, by status {dict(statuses)}")
    # The fuzzer really reached the views: successes and refusals both happened.
    assert statuses[200] > 0 and statuses[400] > 0 and statuses[404] > 0
