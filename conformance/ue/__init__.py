"""The sans-IO UE: its identities, flows and registration state, the REGISTER it builds, its
client transactions and its answers as a UAS.  No sockets: the engine drives it over the wire,
the in-memory harness drives it against the reference registrar."""
