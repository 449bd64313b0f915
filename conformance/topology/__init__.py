"""Network-namespace test topologies: a NAT (or none) between the emulated UEs and the SUT,
IPv4 and IPv6 (docs/topologies.md).  ``model`` is the plan as data, ``netns`` the driver,
``capture`` the NAT-side capture."""

from .model import FEATURES, PRESETS, TopologySpec, describe, topology_from

__all__ = ["FEATURES", "PRESETS", "TopologySpec", "describe", "topology_from"]
