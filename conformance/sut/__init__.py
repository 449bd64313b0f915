"""The embedded reference CSCF: the suite's default system under test.

``Registrar`` is sans-IO (RFC 3261 section 10.3, RFC 5626 section 6); ``ReferenceCscf`` serves
it on UDP and TCP; ``conformance sut`` (``cli.main``) runs it from the command line.
"""

from .bindings import Binding, BindingTable, TableFull, instance_key
from .config import KNOWN_FAULTS, MODES, SutConfig
from .flow import FlowInfo
from .registrar import Registrar

__all__ = [
    "Binding", "BindingTable", "FlowInfo", "KNOWN_FAULTS", "MODES", "Registrar", "ReferenceCscf",
    "SutConfig", "TableFull", "instance_key",
]


def __getattr__(name: str):
    # The server pulls in sockets and threads; import it only when asked for.
    if name == "ReferenceCscf":
        from .server import ReferenceCscf

        return ReferenceCscf
    raise AttributeError(name)
