"""A models-config path that cannot be written stops apply before any transaction, in one line; a write that
fails anyway is a ProxyWriteError, never an unexpected OSError."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.proxy_config import ProxyWriteError, write_config_atomic
from reconciler.apply.refusals import ApplyError, refuse_unwritable
from reconciler.plan.planner import plan
from tests.support.planfactory import desired_from, observed

NEVER = "/tmp/never-written/forwarder.json"


@pytest.mark.parametrize(("where", "named"), [("a-file/models.json", "is a file"), (".", "is a directory")])
def test_a_plan_writing_where_no_file_can_be_is_refused_before_sending(tmp_path: Path, where: str, named: str) -> None:
    (tmp_path / "a-file").write_text("x")
    target = tmp_path / where
    desired = desired_from(**{NEVER: str(target)})
    p = plan(desired, observed())
    assert any(a.kind.value == "proxy.write-config" for a in p.pending)
    with pytest.raises(ApplyError, match=rf"nothing was sent:\n  the forwarder models-config .*{named}"):
        refuse_unwritable(desired, p)


def test_a_writable_path_passes(tmp_path: Path) -> None:
    desired = desired_from(**{NEVER: str(tmp_path / "new" / "models.json")})
    refuse_unwritable(desired, plan(desired, observed()))


def test_a_failed_write_is_a_proxy_write_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ProxyWriteError, match="cannot write"):
        write_config_atomic(tmp_path / "a-file" / "models.json", {"models": []})
