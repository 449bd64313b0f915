"""A mangling proxy between the suite and a SUT: sans-IO mutation rules (``rules``) and a thin
UDP/TCP relay (``relay``).  A target profile switches it on with ``mangle: {fault: NAME}``;
the plugin then starts the relay in front of the SUT and the UEs talk to the relay."""
