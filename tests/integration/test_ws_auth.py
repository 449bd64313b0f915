"""WS-004 against the reference answering the WebSocket upgrade 401 until it carries credentials
(tests/targets/reference-ws-auth.yaml, RFC 7118 section 7): the tester's first upgrade is refused,
the second (with the flow's retry_authorization) gets the 101, the REGISTER is answered 200."""

from __future__ import annotations

from suite_runner import ROOT, run_suite


def test_ws_upgrade_401_then_register(tmp_path):
    run = run_suite(tmp_path, str(ROOT / "testcases" / "transport"), "-k", "WS-004",
                    target=ROOT / "tests" / "targets" / "reference-ws-auth.yaml")
    assert run.results is not None, run.output[-3000:]
    cases = {c["id"]: c for c in run.results["cases"]}
    assert set(cases) == {"WS-004[ws]", "WS-004[wss]"}, run.output[-2000:]
    for item, case in cases.items():
        assert case["verdict"] == "pass", (item, case.get("reason"))
        seen = {f["check"]: f["observed"] for s in case["steps"] for f in s["findings"]}
        assert seen["401 on the upgrade of flow f1"] == "answers 401, 101", seen
    assert run.returncode == 0
