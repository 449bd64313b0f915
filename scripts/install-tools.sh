#!/bin/sh
# Installs the external tools the project's tests use, from Debian's packages, when missing:
#   tshark   to check that every pcap the suite writes decodes as SIP;
#   kamailio (with kamailio-outbound-modules, kamailio-presence-modules for the reg event
#   package of the regevent profile, kamailio-tls-modules and kamailio-websocket-modules for the
#   TLS/WebSocket edge of the tls-ws profile) as a real SUT (suts/kamailio/kamailioctl.sh install);
#   chromium to load report.html and certificate.html as a user would (headless);
#   nftables, conntrack (and iproute2, procps) for the network-namespace NAT topologies
#   (docs/topologies.md: targets/reference-nat.yaml, reference-ipv6.yaml, tests/topology/);
#   sip-tester (SIPp) for benchmarks/load_vs_sipp.py and its smoke test (tests/benchmarks/);
#   the real clients (scripts/install-clients.sh: JsSIP from npm, Debian's baresip-core).
# Non-interactive; needs root (or sudo) for apt-get. Without them it says what is missing and
# the tests that need the tool are skipped with that reason.
set -eu
cd "$(dirname "$0")/.."
KCTL=suts/kamailio/kamailioctl.sh
# the real SIP clients of tests/interop (JsSIP under Node, baresip): their own script
scripts/install-clients.sh || echo "install-tools: scripts/install-clients.sh failed; the real-client tests will skip" >&2
need=""
command -v tshark >/dev/null 2>&1 || need="$need tshark"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v nft >/dev/null 2>&1 || need="$need nftables"
command -v conntrack >/dev/null 2>&1 || need="$need conntrack"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v sysctl >/dev/null 2>&1 || need="$need procps"
# SIPp, beside which benchmarks/load_vs_sipp.py measures `conformance load`
command -v sipp >/dev/null 2>&1 || need="$need sip-tester"
kamailio_missing=""
{ $KCTL installed regevent && $KCTL installed tls-ws; } || kamailio_missing=yes
[ -z "$need" ] && [ -z "$kamailio_missing" ] && exit 0
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "install-tools: missing:$need${kamailio_missing:+ kamailio} (not root, no sudo); tests that need them will be skipped" >&2
        exit 0
    fi
else
    SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$need" ]; then
    echo "install-tools: installing$need from Debian packages" >&2
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
    $SUDO apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
if [ -n "$kamailio_missing" ]; then
    # installs without letting the package start its own service on 5060 (see kamailioctl.sh)
    $SUDO "$KCTL" install
fi
