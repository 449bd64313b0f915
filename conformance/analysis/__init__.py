"""Offline analysis of captured SIP traffic (``conformance analyze``).

Layers, as in the rest of the project:

* ``capture``: reads pcap / pcapng records with Scapy's raw readers (streaming) and decodes the
  link, IP, UDP and TCP headers into :class:`~conformance.analysis.capture.Segment` s.
* ``reassembly``: sans-IO; TCP streams put back in sequence order and framed with
  :class:`conformance.sip.framing.StreamFramer`, datagrams sorted with ``classify_datagram``;
  out come :class:`~conformance.analysis.reassembly.WireEvent` s (SIP message, ping, pong, STUN).
* ``timeline``: sans-IO; transactions, registrations per AOR / instance / reg-id, terminating
  requests and keep-alives over time.
* ``rules``: the offline checks, judged with the same functions as live runs (``conformance.meaning.checks``).
* ``rejudge``: a suite case re-judged from its pcap (``--case``).
* ``report`` / ``cli``: console table, JSON, HTML; the ``analyze`` command.
"""
