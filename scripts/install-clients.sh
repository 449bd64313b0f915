#!/bin/sh
# Installs the real SIP clients of the interop test (tests/interop/test_real_clients.py), when
# missing; idempotent, starts nothing:
#   clients/jssip/node_modules  JsSIP and ws from the npm registry, as pinned by the committed
#                               package-lock.json (npm ci), for Node.js (Debian's nodejs and
#                               npm when node is missing);
#   baresip                     Debian's baresip-core (the SIP user agent without GUI or
#                               audio drivers beyond ALSA; the test loads no audio module).
# The same installs serve the UE drivers (conformance/uecert/drivers: baresip over its ctrl_tcp
# and menu modules, both in baresip-core; clients/jssip/control.js). PJSIP's pjsua has no Debian
# 12 package (apt: "Unable to locate package pjsua"); linphone-cli installs but has no driver yet
# (docs/real-clients.md).
# Needs root (or sudo) for apt-get; without them it says what is missing and the test skips
# with that reason.
set -eu
cd "$(dirname "$0")/.."
need=""
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
command -v baresip >/dev/null 2>&1 || need="$need baresip-core"
if [ -n "$need" ]; then
    if [ "$(id -u)" = "0" ]; then SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
    else
        echo "install-clients: missing:$need (not root, no sudo); the real-client tests will be skipped" >&2
        SUDO="none"
    fi
    if [ "$SUDO" != "none" ]; then
        echo "install-clients: installing$need from Debian packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
    fi
fi
lock=clients/jssip/package-lock.json
stamp=clients/jssip/node_modules/.package-lock.json
if command -v npm >/dev/null 2>&1; then
    # npm ci when node_modules is missing or older than the lock
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
        echo "install-clients: npm ci in clients/jssip" >&2
        (cd clients/jssip && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
fi
exit 0
