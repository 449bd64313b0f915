"""Keep-alive checks: CRLF pong on TCP (RFC 5626 §5.4) and STUN on UDP (RFC 5626 §8)."""

from __future__ import annotations

from .context import CheckContext, Observation


def pong_check(args: dict, ctx: CheckContext) -> list[Observation]:
    within = float(args.get("within", ctx.keepalive_bound or 10.0))
    expected = f"a CRLF pong within {within:g} s of the ping"
    if ctx.pong_delay is None:
        return [Observation("CRLF pong", False, expected, f"no pong within {ctx.keepalive_bound:g} s")]
    return [Observation("CRLF pong", ctx.pong_delay <= within, expected,
                        f"pong after {ctx.pong_delay * 1000:.0f} ms")]


def stun_mapped_check(args: dict, ctx: CheckContext) -> list[Observation]:
    flow_addr = None
    if ctx.flow_addresses:
        flow_addr = next(iter(ctx.flow_addresses.values())) if len(ctx.flow_addresses) == 1 else None
    expected = f"a Binding success response with XOR-MAPPED-ADDRESS {flow_addr[0]}:{flow_addr[1]}" \
        if flow_addr else "a Binding success response with the flow's address"
    if ctx.stun_mapped is None:
        return [Observation("STUN XOR-MAPPED-ADDRESS", False, expected, ctx.stun_note or "no STUN response")]
    ip, port = ctx.stun_mapped
    return [Observation("STUN XOR-MAPPED-ADDRESS", flow_addr is None or (ip, port) == tuple(flow_addr),
                        expected, f"XOR-MAPPED-ADDRESS {ip}:{port}")]
