"""IMS AKA, sec-agree and ESP, sans-IO (issue 6).

* :mod:`.milenage`, :mod:`.xortest`: the AKA algorithm sets f1-f5* (TS 35.206, TS 34.108 8.1.2).
* :mod:`.aka`: authentication vectors, the AUTN check, AUTS (TS 33.102 6.3).
* :mod:`.digest`: RFC 2617 Digest and RFC 3310 / RFC 4169 Digest AKAv1-MD5.
* :mod:`.secagree`: Security-Client/-Server/-Verify (RFC 3329, TS 33.203 Annex H) and the four SAs.
* :mod:`.esp`: an RFC 4303 transport-mode ESP codec with a replay window.
* :mod:`.espscapy`: the same packets through scapy's ``SecurityAssociation``.
* :mod:`.wireshark`: the SA keys as Wireshark's ``esp_sa`` table.

Nothing here opens a socket or reads a clock; randomness (SPIs, IVs, RAND) can be injected.
"""

from .errors import AkaError, EspError, ImsError, SecAgreeError

__all__ = ["ImsError", "AkaError", "SecAgreeError", "EspError"]
