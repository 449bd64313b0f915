"""Real SIP clients as interop checks (issue 19 part 5): JsSIP under Node over WebSocket and
baresip over TLS register through an edge; their traffic is captured and judged by
``conformance analyze``.

Sans-IO: ``baresip.py`` (the config and accounts files baresip reads, its log and SIP trace read
back), ``jssip.py`` (the driver's JSON lines read back). I/O: ``clients.py`` (the client
processes, every wait bounded) and ``capture.py`` (a bounded dumpcap capture, the TLS keys
injected with editcap).
"""
