"""The load generator's TCP fast paths behave as the engine pieces they stand in for."""

from __future__ import annotations

import random

from conformance.load.generator import LoadGenerator, frames
from conformance.load.scenario import LoadScenario


def _stream() -> bytes:
    msgs = []
    for i in range(40):
        body = b"x" * (i % 3) * 7
        length = f"Content-Length: {len(body)}" if i % 4 else f"l: {len(body)}"
        msgs.append(f"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bKb{i}\r\nCSeq: {i} REGISTER\r\n"
                    f"{length}\r\n\r\n".encode() + body)
        if i % 5 == 0:
            msgs.append(b"\r\n\r\n" if i % 10 else b"\r\n")
    return b"".join(msgs)


def test_responses_are_read_in_place_as_frames_cuts_them():
    data = _stream()
    rnd = random.Random(5)
    for _ in range(20):
        gen = LoadGenerator(LoadScenario(transport="tcp"))
        seen: list[bytes] = []
        gen._on_response = lambda buf, now, pos=0, stop=None: seen.append(bytes(buf[pos:stop]))  # type: ignore
        ref_buf, expected = bytearray(), []
        buf = bytearray()
        pos = 0
        while pos < len(data):
            n = rnd.randint(1, 300)
            chunk = data[pos:pos + n]
            pos += n
            ref_buf += chunk
            expected += frames(ref_buf)
            buf += chunk
            del buf[:gen._responses(buf, 0.0)]
        assert seen == expected and bytes(buf) == bytes(ref_buf)
        assert len(expected) == 40


def test_flows_are_made_as_the_ramp_goes_with_the_reg2_pattern():
    sc = LoadScenario(transport="udp", ues=10, reg2_share=0.3, ue_addresses=["127.0.0.11", "127.0.0.12"])
    gen = LoadGenerator(sc)
    gen._plan(0.0)
    firsts = [gen._initial(i) for i in range(10)]
    with_second = [i for i, f in enumerate(firsts) if f.second is not None]
    assert with_second == [0, 4, 7]  # every 10/3 UEs, from the first
    assert [f.index for f in gen.flows] == list(range(13))
    assert all(f.reg_id == 2 and f.home == 1 for f in gen.flows if f not in firsts)


def test_a_numbered_request_is_what_build_register_builds_for_that_ue():
    from conformance.cases.model import FlowSpec
    from conformance.load.templates import Template, options
    from conformance.ue.model import UE, FlowState, RegDialog

    sc = LoadScenario(transport="udp", ues=10, user_prefix="u%41", run_token="tok")
    gen = LoadGenerator(sc)
    numbered = gen._prototype(0, 40000, 2)
    for i, cseq, auth in ((0, 1, b""), (7, 2, b"Authorization: Digest x%d\r\n"), (123456, 99, b"")):
        ident = gen._identity(i, 2)
        ue = UE(name="u", user=ident["user"], impu=f"sip:{ident['user']}@ims.test",
                impi=f"{ident['user']}@ims.test", domain="ims.test", instance=f"<urn:uuid:{ident['instance']}>")
        st = FlowState(spec=FlowSpec(name="f2", address=1, reg_id=2, transport="udp"), local_ip=sc.ue_addresses[0],
                       transport="udp", local_port=40000, port_uc=40000, port_us=40000)
        st.dialog = RegDialog(call_id=ident["call_id"], from_tag=ident["tag"])
        want = Template(ue, st, options(sc.expires)).render(gen._branch_prefix + b"%010d" % 42, cseq, auth)
        assert numbered.render(42, i, cseq, auth) == want
        assert f"-{i}-2@tok".encode() in want and b"u%41-tok-" in want
