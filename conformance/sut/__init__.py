"""The embedded reference CSCF: the suite's default system under test.

Sans-IO parts: ``Registrar`` (RFC 3261 section 10.3, RFC 5626 section 6), ``TerminatingProxy``
and ``ScscfNode`` (the S-CSCF: registrar plus RFC 5626 section 7 routing), ``EdgeProxy`` (the
P-CSCF role, RFC 5626 section 5), ``FlowTokenCodec`` (section 5.2) and ``stun_response``
(section 8).  ``ReferenceCore`` serves them on UDP and TCP in the registrar, edge or core
topology; ``ReferenceCscf`` is the registrar-topology server kept for existing callers;
``conformance sut`` (``cli.main``) runs them from the command line.
"""

from .bindings import Binding, BindingTable, TableFull, instance_key
from .config import EDGE_MODES, KNOWN_FAULTS, MODES, TOPOLOGIES, SutConfig
from .core import ScscfNode
from .edge import EdgeProxy
from .flow import FlowInfo
from .flowtoken import FlowTokenCodec, TokenError
from .proxy import TerminatingProxy
from .registrar import Registrar
from ..sip.stun import stun_response

__all__ = [
    "Binding", "BindingTable", "EDGE_MODES", "EdgeProxy", "FlowInfo", "FlowTokenCodec",
    "KNOWN_FAULTS", "MODES", "Registrar", "ReferenceCore", "ReferenceCscf", "ScscfNode",
    "SutConfig", "TOPOLOGIES", "TableFull", "TerminatingProxy", "TokenError", "instance_key",
    "stun_response",
]


def __getattr__(name: str):
    # The server pulls in sockets and threads; import it only when asked for.
    if name in ("ReferenceCscf", "ReferenceCore"):
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
