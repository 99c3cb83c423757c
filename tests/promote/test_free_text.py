"""Free text given to `tenantforge promote` cannot forge the audit trailers of the commit."""

from __future__ import annotations

from tests.helpers import git
from tests.promote.conftest import MakeTenant
from tests.promote.test_promote_cli import only_promotion_branch, promote

FORGED = "fine\n\nGate-Result: failed\nGate-Image-Scan: done\r\nPromote-Emergency: yes\x1b[0m"


def test_a_multi_line_reason_is_folded_into_one_line_and_forges_no_trailer(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    code, out, err = promote(t, "--reason", FORGED)
    assert code == 0, out + err
    branch = only_promotion_branch(t.branches())

    def trailer(key: str) -> list[str]:
        value = git(t.work, "log", "-1", f"--format=%(trailers:key={key},valueonly)", branch)
        return [line for line in value.splitlines() if line]

    assert trailer("Gate-Result") == ["passed"]
    assert trailer("Gate-Image-Scan") == ["yes"]
    assert trailer("Promote-Emergency") == []
    folded = "fine Gate-Result: failed Gate-Image-Scan: done Promote-Emergency: yes [0m"
    assert trailer("Promote-Reason") == [folded]
    message = git(t.work, "log", "-1", "--format=%B", branch)
    assert f"\nReason: {folded}\n" in message
    assert "\x1b" not in message and "\r" not in message
    assert not any(
        line.startswith(("Gate-", "Promote-Emergency")) for line in message.split(f"Reason: {folded}")[0].splitlines()
    )


def test_a_reason_of_only_whitespace_does_not_count_for_an_emergency(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    code, _, err = promote(t, "--emergency", "--reason", " \n\t ")
    assert code == 1
    assert err.strip() == "error: --emergency needs --reason TEXT: the reason is recorded in the commit for the audit"
