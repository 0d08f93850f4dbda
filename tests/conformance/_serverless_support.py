"""Serverless services for the conformance tests: each one a test opens is closed after it
(an open service keeps heartbeating its session long after its server is gone)."""

from __future__ import annotations

import fireworks.training.sdk as fw
import pytest

_OPENED: list[fw.FiretitanServiceClient] = []


@pytest.fixture(autouse=True)
def close_services():
    """Autouse where imported: closes every service the test opened (close is idempotent)."""
    yield
    while _OPENED:
        _OPENED.pop().close()


def service(server, api_key: str = "drydock-local-key") -> fw.FiretitanServiceClient:
    svc = fw.FiretitanServiceClient(base_url=server.url + "/training/v1/serverless",
                                    api_key=api_key)
    _OPENED.append(svc)
    return svc
