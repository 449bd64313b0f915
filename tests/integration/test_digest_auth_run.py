"""Against a SUT that declares digest-auth (the reference with digest_auth), every case answers the
challenges: the 401 and the retry are in the case's messages, the retry is a new transaction with
CSeq + 1 and MD5 credentials for the UE's private identity, and the case is judged on the final
answer; the SEC-AUTH cases send no, wrong or another user's credentials on purpose."""

from __future__ import annotations

from conformance.sip.headers import parse_auth
from conformance.sip.message import parse_message
from suite_runner import ROOT, run_suite


def _msg(record):
    return parse_message(record["text"].encode())


def test_challenges_are_answered_and_attacks_refused(tmp_path):
    run = run_suite(tmp_path, "-k", "REG-003 or SEC-AUTH-003 or SEC-006", target=ROOT / "targets/reference-auth.yaml")
    assert run.verdicts() == {f"{c}[{t}]": "pass" for c in ("REG-003", "SEC-AUTH-003", "SEC-006")
                              for t in ("udp", "tcp")}, run.output[-2000:]
    case = run.case("REG-003[udp]")
    first, challenge, retry, ok = (_msg(m) for m in case["messages"][:4])
    assert challenge.status == 401 and ok.status == 200
    assert retry.call_id == first.call_id and retry.cseq[0] == first.cseq[0] + 1
    assert retry.top_branch != first.top_branch
    creds = parse_auth(retry.get("Authorization"))
    assert creds.get("username").startswith("ue-reg-003-udp-a-") and creds.get("qop") == "auth"
    assert creds.get("nonce") == parse_auth(challenge.get("WWW-Authenticate")).get("nonce")
    assert case["steps"][0]["request_index"] == 2 and case["steps"][0]["response_index"] == 3
    # the replay (SEC-006) keeps its old CSeq when it answers the challenge: still a replay
    replay = run.case("SEC-006[udp]")
    sent = [_msg(m) for m in replay["messages"] if m["direction"] == "sent" and m["step"].startswith("send")]
    assert len(sent) == 2 and sent[0].cseq == sent[1].cseq and not sent[0].get("Authorization")
    # the hijack: answered as the victim with a wrong password, refused, nothing bound
    hijack = run.case("SEC-AUTH-003[tcp]")
    step = hijack["steps"][1]
    assert "with a wrong password" in step["note"]
    assert _msg(hijack["messages"][step["response_index"]]).status == 401
