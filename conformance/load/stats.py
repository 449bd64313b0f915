"""Rates, latencies and failures of a load run; JSON and an HTML page with an inline SVG plot."""

from __future__ import annotations

import json
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


def percentile(sorted_values, p: float) -> float | None:
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)  # k >= 0: its floor (math is not imported for this)
    hi = lo if lo == k else lo + 1
    if lo == hi:
        return sorted_values[int(k)]
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class Second:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0


@dataclass
class LoadStats:
    started: float = 0.0
    sent: int = 0  # transactions started
    retransmissions: int = 0
    ok: int = 0
    failed: int = 0
    by_kind: Counter = field(default_factory=Counter)  # initial / refresh / reg1b / storm / auth: ok count
    failures: Counter = field(default_factory=Counter)  # cause -> count
    latencies: array = field(default_factory=lambda: array("d"))
    seconds: list[Second] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float = 0.0  # the process's CPU time (user + system) while the generator ran
    first_ok: float | None = None
    last_ok: float | None = None
    # tls / ws / wss: connection set-ups (TCP connect and every handshake), counted apart from
    # the REGISTER transactions: how many, wall time, and the process's CPU time while each ran
    # (the generator's side, and the embedded reference's when it runs in this process)
    handshakes: int = 0
    handshake_wall: float = 0.0
    handshake_cpu: float = 0.0
    handshake_failures: int = 0

    def on_handshake(self, wall: float, cpu: float) -> None:
        self.handshakes += 1
        self.handshake_wall += wall
        self.handshake_cpu += cpu

    def second_at(self, t: float) -> Second:
        """The per-second bucket of time ``t`` (made, with any before it, on first use)."""
        i = int(t - self.started)
        seconds = self.seconds
        if i < len(seconds):
            return seconds[i]
        while len(seconds) <= i:
            seconds.append(Second())
        return seconds[i]

    def on_sent(self, now: float) -> None:
        self.sent += 1
        self.second_at(now).sent += 1

    def on_ok(self, now: float, latency: float, kind: str) -> None:
        self.ok += 1
        self.by_kind[kind] += 1
        self.latencies.append(latency)
        i = int(now - self.started)
        seconds = self.seconds
        s = seconds[i] if i < len(seconds) else self.second_at(now)
        s.ok += 1
        s.latency_sum += latency
        if latency > s.latency_max:
            s.latency_max = latency
        if self.first_ok is None:
            self.first_ok = now
        self.last_ok = now

    def on_failure(self, now: float, cause: str) -> None:
        self.failed += 1
        self.failures[cause] += 1
        self.second_at(now).failed += 1

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        active = (self.last_ok - self.started) if self.last_ok is not None else 0.0
        ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
        return {
            "transactions": self.sent, "ok": self.ok, "failed": self.failed,
            "retransmissions": self.retransmissions, "elapsed_s": round(self.elapsed, 3),
            "cpu_s": round(self.cpu, 3),
            # successful transactions per second from the start to the last 2xx
            "rate_per_s": round(self.ok / active, 1) if active > 0 else None,
            "peak_rate_per_s": max((s.ok for s in self.seconds), default=0),
            "by_kind": dict(self.by_kind), "failures": dict(self.failures),
            "latency_ms": {"min": ms(lat[0] if lat else None), "p50": ms(percentile(lat, 50)),
                           "p90": ms(percentile(lat, 90)), "p99": ms(percentile(lat, 99)),
                           "p999": ms(percentile(lat, 99.9)), "max": ms(lat[-1] if lat else None),
                           "mean": ms(sum(lat) / len(lat) if lat else None)},
            **({"connections": {"set_ups": self.handshakes, "failed": self.handshake_failures,
                                "wall_ms_mean": round(self.handshake_wall / self.handshakes * 1000, 3),
                                "cpu_ms_mean": round(self.handshake_cpu / self.handshakes * 1000, 3),
                                "wall_s": round(self.handshake_wall, 3), "cpu_s": round(self.handshake_cpu, 3)}}
               if self.handshakes else {}),
            "per_second": [{"t": i, "sent": s.sent, "ok": s.ok, "failed": s.failed,
                            "latency_mean_ms": ms(s.latency_sum / s.ok) if s.ok else None,
                            "latency_max_ms": ms(s.latency_max) if s.ok else None}
                           for i, s in enumerate(self.seconds)],
        }


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _polyline(points, x_max, y_max, w, h, pad) -> str:
    if not points:
        return ""
    sx = (w - 2 * pad) / max(x_max, 1)
    sy = (h - 2 * pad) / max(y_max, 1e-9)
    return " ".join(f"{pad + x * sx:.1f},{h - pad - y * sy:.1f}" for x, y in points)


def svg_plot(per_second: list[dict], w: int = 720, h: int = 260, pad: int = 40) -> str:
    """2xx per second (blue), failures per second (red), mean latency in ms (grey, right axis)."""
    n = len(per_second)
    ok = [(p["t"], p["ok"]) for p in per_second]
    bad = [(p["t"], p["failed"]) for p in per_second]
    lat = [(p["t"], p["latency_mean_ms"]) for p in per_second if p["latency_mean_ms"] is not None]
    y_max = max([y for _, y in ok + bad] + [1])
    l_max = max([y for _, y in lat] + [1.0])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
             f'aria-label="rate and latency per second">',
             f'<rect x="0" y="0" width="{w}" height="{h}" fill="white" stroke="#ccc"/>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#333"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#333"/>',
             f'<text x="{pad}" y="{pad - 8}" font-size="11">{y_max}/s</text>',
             f'<text x="{w - pad}" y="{pad - 8}" font-size="11" text-anchor="end">{l_max:.1f} ms</text>',
             f'<text x="{w - pad}" y="{h - pad + 16}" font-size="11" text-anchor="end">{n} s</text>',
             f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{_polyline(ok, n - 1, y_max, w, h, pad)}"/>',
             f'<polyline fill="none" stroke="#d62728" stroke-width="2" points="{_polyline(bad, n - 1, y_max, w, h, pad)}"/>',
             f'<polyline fill="none" stroke="#888" stroke-dasharray="4 3" '
             f'points="{_polyline(lat, n - 1, l_max, w, h, pad)}"/>',
             '</svg>']
    return "\n".join(parts)


def write_html(path: Path, doc: dict) -> None:
    import html  # here: a run that writes no page does not import it

    s = doc["summary"]
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in [("2xx", s["ok"]), ("failed", s["failed"]), ("rate (2xx/s)", s["rate_per_s"]),
                                ("peak (2xx/s)", s["peak_rate_per_s"]), ("retransmissions", s["retransmissions"]),
                                *[(f"latency {k}", f"{v} ms") for k, v in s["latency_ms"].items()],
                                *[(f"failure: {k}", v) for k, v in s["failures"].items()]])
    sc = doc["scenario"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>conformance load</title>
<style>body{{font-family:sans-serif;margin:2em}} th{{text-align:left;padding-right:1em}}</style></head><body>
<h1>REGISTER load: {html.escape(sc['transport'].upper())} to {html.escape(sc['host'])}:{sc['port']}</h1>
<p>{sc['ues']} UEs, ramp {sc['rate']}/s, Reg2 share {sc['reg2_share']}, {sc['refreshes']} refresh(es) every
{sc['refresh_interval']} s, Reg1b share {sc['reg1b_share']}{', storm at ' + str(sc['storm_at']) + ' s' if sc['storm_at'] is not None else ''}.
Machine: {html.escape(str(doc.get('machine', {}).get('platform', '')))}, {doc.get('machine', {}).get('cpu_count')} CPU(s).</p>
<p><span style="color:#1f77b4">&#9632; 2xx per second</span> <span style="color:#d62728">&#9632; failures per second</span>
<span style="color:#888">- - mean latency (right scale)</span></p>
{svg_plot(s['per_second'])}
<table>{rows}</table>
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
