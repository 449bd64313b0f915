"""sec-agree (RFC 3329, TS 33.203 Annex H): headers, q, Security-Verify, the four SAs."""

from __future__ import annotations

import pytest

from conformance.ims.errors import SecAgreeError
from conformance.ims.sa import auth_key, enc_key
from conformance.ims.secagree import (ALG_PAIRS, choose, client_mechanisms, renew_client,
                                      format_security, mirror, new_spi, parse_ipsec,
                                      q_problems, server_mechanisms, verify_mismatches)
from conformance.sip.headers import parse_security

from ims_vectors import CK, IK, PCSCF_IP, UE_IP, make_sas

SERVER = ("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=3;spi-s=4;port-c=6100;port-s=6101;q=0.5, "
          "ipsec-3gpp;alg=hmac-md5-96;ealg=null;spi-c=3;spi-s=4;port-c=6100;port-s=6101;q=0.9, "
          "digest;d-alg=md5;q=0.95, "
          "tls;q=0.1")


def kinds(found):
    return [m.kind for m in found]


def test_client_header_round_trip():
    client = client_mechanisms(ALG_PAIRS[:2], spi_c=1111, spi_s=2222, port_c=5100, port_s=5101)
    text = format_security(client)
    assert text.startswith("ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=1111;spi-s=2222;"
                           "port-c=5100;port-s=5101, ")
    assert "q=" not in text                       # RFC 3329 §2.3.1: SHOULD NOT add q
    assert parse_ipsec(text) == client


def test_q_selection_highest_known():
    server = parse_security(SERVER)
    assert choose(server).params["alg"] == "hmac-md5-96"     # digest (0.95) is unknown here
    assert choose(server, known=lambda m: True).name == "digest"
    assert choose(server, known=lambda m: m.name == "tls").name == "tls"
    with pytest.raises(SecAgreeError):
        choose(server, known=lambda m: False)


def test_q_selection_missing_q_ranks_last():
    server = parse_security("ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4, "
                            "ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1;spi-s=2;port-c=3;port-s=4;q=0.001")
    assert choose(server).params["alg"] == "hmac-sha-1-96"
    assert q_problems(server) == ["mechanism 1 (ipsec-3gpp) has no q among 2"]


def test_q_problems():
    assert q_problems(parse_security(SERVER)) == []
    assert q_problems(parse_security("ipsec-3gpp;alg=hmac-md5-96")) == []   # one, no q: fine
    dup = q_problems(parse_security("tls;q=0.5, digest;q=0.500"))
    assert dup == ["mechanisms 1 and 2 share q=0.500"]
    bad = q_problems(parse_security("tls;q=1.5, digest;q=0.1234, ipsec-ike;q=.5"))
    assert len(bad) == 3 and all("not a qvalue" in b for b in bad)


def test_server_lists_ims_and_static():
    client = client_mechanisms([("hmac-md5-96", "null"), ("hmac-sha-1-96", "null")],
                               spi_c=1, spi_s=2, port_c=5100, port_s=5101)
    ims = server_mechanisms(client, spi_c=3, spi_s=4, port_c=6100, port_s=6101)
    assert [m.pair for m in ims] == [("hmac-sha-1-96", "null")]      # first supported, offered
    assert str(ims[0]) == ("ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;prot=esp;mod=trans;spi-c=3;"
                           "spi-s=4;port-c=6100;port-s=6101")
    with pytest.raises(SecAgreeError):
        server_mechanisms(client, spi_c=3, spi_s=4, port_c=6100, port_s=6101,
                          supported=[("hmac-sha-1-96", "aes-cbc")])
    static = server_mechanisms(client, spi_c=3, spi_s=4, port_c=6100, port_s=6101, ims=False)
    assert len(static) == 6 and q_problems([m.to_mechanism() for m in static]) == []
    assert choose([m.to_mechanism() for m in static]).params["ealg"] == "aes-cbc"


# -- Security-Verify mirrors Security-Server (RFC 3329 §2.3.1) ------------------------------
def test_verify_exact_mirror_passes():
    server = parse_security(SERVER)
    assert verify_mismatches(server, parse_security(mirror(server))) == []
    # names and token values compare case-insensitively, numbers numerically
    relaxed = mirror(server).replace("ipsec-3gpp", "IPSEC-3gpp").replace("q=0.5", "q=0.50")
    assert verify_mismatches(server, parse_security(relaxed)) == []


def test_verify_absent():
    assert kinds(verify_mismatches(parse_security(SERVER), None)) == ["absent"]
    assert kinds(verify_mismatches(parse_security(SERVER), [])) == ["absent"]


def test_verify_order():
    server = parse_security(SERVER)
    swapped = [server[1], server[0], *server[2:]]
    assert kinds(verify_mismatches(server, swapped)) == ["order"]


def test_verify_parameter_value():
    server = parse_security(SERVER)
    for old, new in (("spi-s=4", "spi-s=5"), ("alg=hmac-sha-1-96", "alg=hmac-md5-96"),
                     ("q=0.5", "q=0.6")):
        found = verify_mismatches(server, parse_security(mirror(server).replace(old, new, 1)))
        assert kinds(found) == ["param-value"], old
        assert found[0].index == 0 and new in found[0].detail


def test_verify_parameter_added_or_removed():
    server = parse_security(SERVER)
    added = parse_security(mirror(server).replace("q=0.1", "q=0.1;x=1"))
    assert kinds(verify_mismatches(server, added)) == ["param-extra"]
    removed = parse_security(mirror(server).replace(";d-alg=md5", ""))
    assert kinds(verify_mismatches(server, removed)) == ["param-missing"]
    single = parse_security("ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4")
    with_q = parse_security(str(single[0]) + ";q=0.5")   # TP_SEC_005 (e)
    assert kinds(verify_mismatches(single, with_q)) == ["param-extra"]


def test_verify_missing_and_extra_mechanism():
    server = parse_security(SERVER)
    found = verify_mismatches(server, [server[0], server[2], server[3]])
    assert kinds(found) == ["missing-mechanism"] and found[0].index == 1
    extra = parse_security(mirror(server) + ", ipsec-ike;q=0.2")
    found = verify_mismatches(server, extra)
    assert kinds(found) == ["extra-mechanism"] and found[0].index == 4


def test_verify_other_mechanism_and_duplicates():
    server = parse_security(SERVER)
    renamed = parse_security(mirror(server).replace("tls;q=0.1", "ipsec-man;q=0.1"))
    assert kinds(verify_mismatches(server, renamed)) == ["mechanism-name"]
    dup = parse_security(mirror(server).replace("tls;q=0.1", "tls;q=0.1;q=0.1"))
    assert "duplicate-param" in kinds(verify_mismatches(server, dup))


# -- robustness of the parameter check (TP_SEC_020) ------------------------------------------
@pytest.mark.parametrize("change", [
    ("spi-c=1", "spi-c=0"), ("spi-c=1", "spi-c=4294967296"), ("port-c=3", "port-c=0"),
    ("port-c=3", "port-c=70000"), ("alg=hmac-md5-96", "alg=unknown"),
    (";ealg=null", ";ealg=unknown"), ("spi-c=1", "spi-c=1;spi-c=2"), (";port-s=4", ""),
    ("spi-c=1", "spi-c=x"), (";ealg=null", ";ealg=null;mod=tun"),
])
def test_unusable_mechanism_is_a_secagree_error(change):
    good = "ipsec-3gpp;alg=hmac-md5-96;ealg=null;spi-c=1;spi-s=2;port-c=3;port-s=4"
    assert parse_ipsec(good)[0].spi_c == 1
    with pytest.raises(SecAgreeError):
        parse_ipsec(good.replace(*change))


def test_absent_ealg_means_null_and_is_kept_absent():
    mech = parse_ipsec("ipsec-3gpp;alg=hmac-md5-96;spi-c=1;spi-s=2;port-c=3;port-s=4")[0]
    assert mech.ealg == "null" and "ealg" not in str(mech)


def test_new_spi_avoids_reserved_and_used():
    values = iter([0, 255, 7777, 4242])
    assert new_spi(lambda bits: next(values), avoid={7777}) == 4242
    assert 256 <= new_spi() < 2 ** 32


# -- the four SAs (design note table; TS 33.203 Annex I keys) ---------------------------------
def test_sa_table(pair):
    client, server, sas = make_sas(pair)
    rows = [(s.number, s.src, s.sport, s.dst, s.dport, s.spi, s.inbound_at) for s in sas.sas]
    assert rows == [
        (1, UE_IP, client.port_c, PCSCF_IP, server.port_s, server.spi_s, "pcscf"),
        (2, PCSCF_IP, server.port_s, UE_IP, client.port_c, client.spi_c, "ue"),
        (3, PCSCF_IP, server.port_c, UE_IP, client.port_s, client.spi_s, "ue"),
        (4, UE_IP, client.port_s, PCSCF_IP, server.port_c, server.spi_c, "pcscf"),
    ]
    assert all((s.alg, s.ealg) == pair for s in sas.sas)
    assert [s.number for s in sas.inbound("ue")] == [2, 3]
    assert [s.number for s in sas.outbound("ue")] == [1, 4]
    assert [s.number for s in sas.inbound("pcscf")] == [1, 4]
    assert sas.by_spi(client.spi_s).number == 3 and sas.by_spi(99) is None
    assert sas.for_ports(client.port_s, server.port_c).number == 4


def test_sa_keys(pair):
    alg, ealg = pair
    sa = make_sas(pair)[2][1]
    assert sa.auth_key == {"hmac-md5-96": IK, "hmac-sha-1-96": IK + bytes(4)}[alg]
    assert sa.enc_key == {"null": b"", "aes-cbc": CK,
                          "des-ede3-cbc": CK[:8] + CK[8:] + CK[:8]}[ealg]
    assert "auth_key" not in repr(sa)


def test_unknown_algorithms_for_keys():
    with pytest.raises(SecAgreeError):
        auth_key("hmac-sha-256", IK)
    with pytest.raises(SecAgreeError):
        enc_key("aes-gcm", CK)


def test_client_spis_drawn_and_renewed():
    values = iter([7, 300, 300, 400, 300, 400, 500, 600])
    client = client_mechanisms(ALG_PAIRS[:2], port_c=5100, port_s=5101,
                               randbits=lambda bits: next(values))
    assert {(m.spi_c, m.spi_s) for m in client} == {(300, 400)}
    again = renew_client(client, port_c=5102, randbits=lambda bits: next(values))
    assert [(m.spi_c, m.spi_s, m.port_c, m.port_s, m.pair) for m in again] == [
        (500, 600, 5102, 5101, m.pair) for m in client]
