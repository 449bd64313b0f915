#!/bin/sh
# Installs the external tools the project's tests use, from Debian's packages, when missing:
# tshark (to check that every pcap the suite writes decodes as SIP).
# Non-interactive; needs root (or sudo) for apt-get. Without them it says what is missing and
# the tests that need the tool are skipped with that reason.
set -eu
need=""
command -v tshark >/dev/null 2>&1 || need="$need tshark"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "install-tools: missing:$need (not root, no sudo); tests that need them will be skipped" >&2
        exit 0
    fi
else
    SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-tools: installing$need from Debian packages" >&2
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
