"""Configured rate limits replace the backend's defaults (e.g. a plain MLflow server behind a
quota)."""

from __future__ import annotations

import pytest

from syncer.config import load_settings
from syncer.core.capabilities import RateLimits
from syncer.core.errors import FatalError
from syncer.engine.sync import endpoints


def test_rate_limits_from_config_apply_to_a_plain_http_endpoint(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "source:\n  tracking_uri: http://127.0.0.1:1\n  rate_limits: {search: 7, log_batch: 47}\n"
        "destination:\n  tracking_uri: http://127.0.0.1:2\n"
    )
    src, dst = endpoints(load_settings(str(cfg)))
    assert src.caps.rate_limits == RateLimits(
        search=7.0, experiments=7.0, log_batch=47.0, other=None
    )
    assert sorted(src.limiter.buckets) == ["experiments", "log_batch", "search"]
    assert src.limiter.buckets["search"].rate == 7.0
    assert dst.caps.rate_limits == RateLimits()
    assert dst.limiter.buckets == {}


def test_bad_rate_limit_is_a_one_line_config_error(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("source:\n  tracking_uri: http://x\n  rate_limits: {serach: 7}\n")
    with pytest.raises(FatalError, match="unknown option 'source.rate_limits.serach'"):
        load_settings(str(cfg))
