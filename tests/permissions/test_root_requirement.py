"""The permissions tests need root: off CI a non-root run skips them with the reason, under CI (CI=true, which
runs as root) it fails, so a mis-set CI cannot pass by skipping the whole file. Runs as any user."""

from __future__ import annotations

import pytest
from permissions_helpers import need_root


@pytest.mark.parametrize(
    ("euid", "environ", "outcome"),
    [
        (0, {"CI": "true"}, None),
        (0, {}, None),
        (1000, {}, "skipped"),
        (1000, {"CI": "false"}, "skipped"),
        (1000, {"CI": "true"}, "failed"),
        (1000, {"CI": "1"}, "failed"),
    ],
)
def test_not_root_is_a_skip_off_ci_and_a_failure_under_ci(euid: int, environ: dict, outcome: str | None) -> None:
    try:
        need_root(euid, environ)
    except pytest.skip.Exception:
        assert outcome == "skipped"
    except pytest.fail.Exception as exc:
        assert outcome == "failed"
        assert "CI runs these tests as root" in str(exc)
    else:
        assert outcome is None
