"""The API against its own OpenAPI schema: schemathesis generates requests for every operation
of a running ``nowcast serve`` (embedded mode, the shipped default model, a free loopback port);
no answer may be a 5xx and every answer must match the schema. A bounded run here; the longer
run's figures are in the README (Operations)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.service.conftest import REPO
from tests.service.test_security import free_port

pytestmark = pytest.mark.timeout(900)

#: What the issue asks (no 5xx, answers as documented: status, content type, headers, body).
#: Not ``positive_data_acceptance``: a request the schema allows may still be refused with a
#: documented 4xx (no frames, 400 ``no_files``: the schema cannot say "at least one file" of an
#: optional multipart field without changing the API).
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_headers_conformance,
          schemathesis.checks.response_schema_conformance]  # fmt: skip

#: Examples per operation: enough to reach every parameter's edge cases at least once.
EXAMPLES = int(os.environ.get("NOWCAST_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def served_schema():
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "NOWCAST_REDIS_URL", "NOWCAST_MODEL_DIR")}  # fmt: skip
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nowcast", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=REPO,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
    yield schemathesis.openapi.from_url(f"{url}/openapi.json")
    proc.terminate()
    proc.wait(timeout=30)


def test_every_answer_matches_the_schema_and_none_is_a_5xx(served_schema) -> None:
    """Every operation, each with its own bounded hypothesis run (schemathesis' pytest plugin
    is not used: its collection does not work with the pytest this project runs)."""
    operations = [result.ok() for result in served_schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def check(case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=60)

        check()
