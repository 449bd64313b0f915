#!/bin/sh
# Install, start, stop Kamailio 5.6 as a system under test for the conformance suite.
#
#   kamailioctl.sh install           install kamailio + kamailio-outbound-modules +
#                                    kamailio-presence-modules + kamailio-tls-modules +
#                                    kamailio-websocket-modules (Debian) if missing
#   kamailioctl.sh installed [regevent|tls-ws|registrar-tls-ws]  exit 0 when kamailio and its outbound and stun
#                                    modules are there (with regevent: and the presence,
#                                    presence_reginfo, pua and pua_reginfo modules of the regevent
#                                    profile; with tls-ws: and the tls, websocket, xhttp modules)
#   kamailioctl.sh start PROFILE     start a profile and wait (bounded) until it listens
#   kamailioctl.sh stop PROFILE      stop it (SIGTERM, bounded wait, SIGKILL fallback)
#   kamailioctl.sh status [PROFILE]  running or not, with pid and ports
#
# Profiles (configs next to this script; the target profiles are targets/kamailio-*.yaml):
#   registrar  registrar.cfg            127.0.0.1:5071 udp+tcp  RFC 5626 registrar (outbound_mode 1)
#   edge       edge.cfg                 127.0.0.1:5072 udp+tcp  outbound edge proxy, in front of
#              registrar.cfg -A BACKEND 127.0.0.1:5074 udp+tcp  its own registrar (started with it)
#   rel7       rel7.cfg                 127.0.0.1:5073 udp+tcp  Rel-7-like overwrite registrar
#   registrar-auth registrar.cfg -A WITH_AUTH 127.0.0.1:5075 udp+tcp  the registrar requiring Digest
#   regevent   registrar.cfg -A WITH_REGEVENT 127.0.0.1:5076 udp+tcp  the registrar serving the reg
#              event package (RFC 3680: presence, presence_reginfo, pua, pua_reginfo; modules and
#              routes in regevent-*.cfg), its text database under the run dir (copied afresh from
#              the kamailio package's db_text schema at every start)
#   tls-ws     edge.cfg -A WITH_TLSWS   127.0.0.1:5077 udp+tcp, tls 5063, ws 8080, wss 8443: the
#              outbound edge of "edge" as a TLS and WebSocket (RFC 7118) edge (Debian's
#              kamailio-tls-modules, kamailio-websocket-modules; xhttp is in kamailio itself;
#              tls-ws-*.cfg), in front of its own registrar:
#              registrar.cfg -A TLSWS_BACKEND 127.0.0.1:5078 udp+tcp
#              Its certificate: the suite's test CA's server certificate (conformance.wire.testca,
#              ensure_test_ca(): $CONFORMANCE_TEST_CA or ~/.cache/outbound-conformance/test-ca),
#              or KAMAILIO_TLS_CERT + KAMAILIO_TLS_KEY when both are set; the tls module's
#              config (tls.cfg) is written into the run dir at every start.
#   registrar-tls-ws  registrar.cfg -A WITH_TLSWS  127.0.0.1:5079 udp+tcp, tls 5063, ws 8080,
#              wss 8443: the registrar serving those transports itself (nathelper's
#              fix_nated_register() for ws/wss clients' .invalid Contacts); the same
#              certificate and tls.cfg as tls-ws
#
# Each instance runs in the foreground of its own background job (kamailio -DD -E), with its pid
# file and log under $KAMAILIO_RUN_DIR/<instance>/ (default: run/ next to this script). Start and
# stop are idempotent and only ever signal the pid recorded in that pid file, after checking that
# the process is a kamailio started with this instance's config.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
# Inside a network namespace of the suite's topologies (the suite runs this script with
# ip netns exec and sets CONFORMANCE_NETNS, CONFORMANCE_SUT_HOST): a run dir of that namespace,
# so that an instance there and one in the root namespace never share a pid file, and the
# instance also listens on the SUT's address there (the UEs reach it through the NAT).
NETNS=${CONFORMANCE_NETNS:-}
SUT_HOST=${CONFORMANCE_SUT_HOST:-}
RUN_DIR=${KAMAILIO_RUN_DIR:-$HERE/run${NETNS:+/netns/$NETNS}}
READY_TIMEOUT=${KAMAILIO_READY_TIMEOUT:-20}
STOP_TIMEOUT=${KAMAILIO_STOP_TIMEOUT:-10}
PORT_WAIT=${KAMAILIO_PORT_WAIT:-60}   # s to wait for a taken tls/ws/wss port (tls-ws profiles)
# shared / private memory in MB: small for the suite (a few dozen bindings); the load benchmark
# (benchmarks/load_vs_sipp.py) registers tens of thousands and sets KAMAILIO_SHM_MB=512
SHM_MB=${KAMAILIO_SHM_MB:-32}
# the tls-ws edge: OpenSSL keeps every TLS connection's state in Kamailio's shared memory (about
# 100-200 KB each); with 32 MB a suite run drove free memory under the tls module's low-memory
# threshold (openssl bug #1491 workaround) and new TLS handshakes were dropped after the
# ClientHello. 256 MB unless KAMAILIO_SHM_MB says otherwise.
TLSWS_SHM_MB=${KAMAILIO_SHM_MB:-256}
PKG_MB=${KAMAILIO_PKG_MB:-8}

die() { echo "kamailioctl: $*" >&2; exit 1; }
say() { echo "kamailioctl: $*" >&2; }

# instance -> "config port defines"
instance_spec() {
    case "$1" in
        registrar)    echo "registrar.cfg 5071 -" ;;
        registrar-auth) echo "registrar.cfg 5075 WITH_AUTH" ;;
        regevent)     echo "registrar.cfg 5076 WITH_REGEVENT" ;;
        edge)         echo "edge.cfg 5072 -" ;;
        edge-backend) echo "registrar.cfg 5074 BACKEND" ;;
        rel7)         echo "rel7.cfg 5073 -" ;;
        tls-ws)       echo "edge.cfg 5077 WITH_TLSWS" ;;
        tls-ws-backend) echo "registrar.cfg 5078 TLSWS_BACKEND" ;;
        registrar-tls-ws) echo "registrar.cfg 5079 WITH_TLSWS" ;;
        *) return 1 ;;
    esac
}

# profile -> instances, in start order
profile_instances() {
    case "$1" in
        registrar) echo "registrar" ;;
        registrar-auth) echo "registrar-auth" ;;
        regevent)  echo "regevent" ;;
        edge)      echo "edge-backend edge" ;;
        rel7)      echo "rel7" ;;
        tls-ws)    echo "tls-ws-backend tls-ws" ;;
        registrar-tls-ws) echo "registrar-tls-ws" ;;
        *) die "unknown profile '$1' (known: registrar, registrar-auth, regevent, edge, rel7, tls-ws, registrar-tls-ws)" ;;
    esac
}

# instance -> the TCP ports it serves besides its SIP port: "tls ws wss" listeners
instance_tcp_ports() {
    case "$1" in
        tls-ws|registrar-tls-ws) echo "5063 8080 8443" ;;
        *) echo "" ;;
    esac
}

# the python that can import this repository's conformance package (the test CA generator):
# $CONFORMANCE_PYTHON (the suite sets it to its own interpreter when it starts a managed SUT),
# the repository's .venv, python3
suite_python() {
    root=$(cd "$HERE/../.." && pwd)
    for py in "${CONFORMANCE_PYTHON:-}" "$root/.venv/bin/python" python3; do
        [ -n "$py" ] || continue
        command -v "$py" >/dev/null 2>&1 || continue
        if PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$py" -c 'import conformance.wire.testca' >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

# tls_material: "CERT KEY CA" for the tls module: KAMAILIO_TLS_CERT + KAMAILIO_TLS_KEY when both
# are set (CA: KAMAILIO_TLS_CA or none), else the suite's test CA (ensure_test_ca(): generated on
# first use, in $CONFORMANCE_TEST_CA or ~/.cache/outbound-conformance/test-ca)
tls_material() {
    if [ -n "${KAMAILIO_TLS_CERT:-}" ] && [ -n "${KAMAILIO_TLS_KEY:-}" ]; then
        echo "$KAMAILIO_TLS_CERT $KAMAILIO_TLS_KEY ${KAMAILIO_TLS_CA:--}"
        return 0
    fi
    py=$(suite_python) || { say "no python that imports conformance.wire.testca (set CONFORMANCE_PYTHON)"; return 1; }
    root=$(cd "$HERE/../.." && pwd)
    PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$py" -c '
from conformance.wire.testca import ensure_test_ca
ca = ensure_test_ca()
print(ca.server_cert, ca.server_key, ca.ca_cert)'
}

# write_tls_cfg DIR: the tls module config of an instance (DIR/tls.cfg); fails when no
# certificate can be had
write_tls_cfg() {
    set -- "$1" $(tls_material) || return 1
    [ $# -eq 4 ] && [ -f "$2" ] && [ -f "$3" ] || { say "no TLS certificate and key (got: ${2:-} ${3:-})"; return 1; }
    case "$2$3$4" in *' '*|*'"'*) say "TLS file names with spaces or quotes: $2 $3"; return 1 ;; esac
    {
        echo "# written by kamailioctl.sh at start: the server certificate of the tls-ws profile"
        echo "[server:default]"
        echo "method = TLSv1.2+"
        echo "verify_certificate = no"
        echo "require_certificate = no"
        echo "certificate = $2"
        echo "private_key = $3"
        [ "$4" != "-" ] && echo "ca_list = $4"
        echo ""
        echo "[client:default]"
        echo "method = TLSv1.2+"
        echo "verify_certificate = no"
        echo "require_certificate = no"
    } >"$1/tls.cfg"
}

reverse() { r=""; for w in "$@"; do r="$w $r"; done; echo "$r"; }

# listening PORT PROTO: is something on 127.0.0.1:PORT listening (tcp) / bound (udp)?
# Reads /proc/net so it needs neither ss nor netstat.
listening() {
    hex=$(printf '%04X' "$1")
    case "$2" in
        tcp) awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp ;;
        udp) awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' /proc/net/udp ;;
    esac
}

# any_listening PORT...: is one of these TCP ports listening on 127.0.0.1?
any_listening() {
    for p in "$@"; do listening "$p" tcp && return 0; done
    return 1
}

# pid_alive PID: the process exists and is not a zombie (an exited kamailio whose new parent,
# e.g. a container's init, has not reaped it yet counts as gone)
pid_alive() {
    [ -r "/proc/$1/stat" ] || return 1
    state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != "Z" ]
}

# pid of a running instance (from its pid file, verified), or nothing
instance_pid() {
    pidfile="$RUN_DIR/$1/kamailio.pid"
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    case "$pid" in ''|*[!0-9]*) return 0 ;; esac
    pid_alive "$pid" || return 0
    cfg=$(instance_spec "$1" | cut -d' ' -f1)
    # only a kamailio with this instance's config and run dir (never another process)
    if tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "-f $HERE/$cfg" \
        && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "-Y $RUN_DIR/$1 " \
        && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q '^kamailio '; then
        echo "$pid"
    fi
}

start_instance() {
    name=$1
    set -- $(instance_spec "$name")
    cfg=$1 port=$2 defines=$3
    dir="$RUN_DIR/$name"
    pid=$(instance_pid "$name")
    if [ -n "$pid" ]; then
        say "$name already running (pid $pid) on 127.0.0.1:$port"
        return 0
    fi
    if listening "$port" tcp || listening "$port" udp; then
        die "$name: 127.0.0.1:$port is already in use by another process (not started by kamailioctl)"
    fi
    tcp_ports=$(instance_tcp_ports "$name")
    # tls 5063, ws 8080 and wss 8443 are fixed (the embedded reference takes 5061 and free ports;
    # another program may hold them): wait a bounded time for them to come free
    waited=0
    while any_listening $tcp_ports; do
        if [ "$waited" -ge $((PORT_WAIT * 10)) ]; then
            for p in $tcp_ports; do
                listening "$p" tcp && die "$name: 127.0.0.1:$p/tcp is already in use by another process (not started by kamailioctl; waited ${PORT_WAIT} s)"
            done
        fi
        [ "$waited" -eq 0 ] && say "$name: waiting up to ${PORT_WAIT} s for 127.0.0.1 tcp $tcp_ports to come free"
        sleep 0.1
        waited=$((waited + 1))
    done
    command -v kamailio >/dev/null 2>&1 || die "kamailio is not installed (run: $0 install)"
    mkdir -p "$dir"
    rm -f "$dir/kamailio.pid"
    extra=""
    [ "$defines" != "-" ] && extra="-A $defines"
    if [ "$defines" = WITH_REGEVENT ]; then
        # presence and pua need a database at start-up, though they keep everything in memory
        # (regevent-modules.cfg): the db_text tables they check, fresh from the package's schema
        schema=/usr/share/kamailio/dbtext/kamailio
        [ -f "$schema/version" ] || die "$name: $schema/version is missing (the kamailio package's db_text schema)"
        rm -rf "$dir/dbtext"
        mkdir -p "$dir/dbtext"
        for t in version presentity active_watchers watchers pua; do cp "$schema/$t" "$dir/dbtext/$t"; done
        extra="$extra -A REGEVENT_DB=\"text://$dir/dbtext\""
    fi
    if [ "$defines" = WITH_TLSWS ]; then
        write_tls_cfg "$dir" || die "$name: cannot write the tls module's config $dir/tls.cfg"
        extra="$extra -A TLS_CFG=\"$dir/tls.cfg\""
    fi
    if [ -n "$SUT_HOST" ]; then
        case "$SUT_HOST" in *:*) lhost="[$SUT_HOST]" ;; *) lhost=$SUT_HOST ;; esac
        extra="$extra -l udp:127.0.0.1:$port -l tcp:127.0.0.1:$port -l udp:$lhost:$port -l tcp:$lhost:$port"
        if [ -n "$tcp_ports" ]; then
            # tls 5063, ws 8080 (plain tcp), wss 8443 (tls), on both addresses
            for h in 127.0.0.1 "$lhost"; do
                extra="$extra -l tls:$h:5063 -l tcp:$h:8080 -l tls:$h:8443"
            done
        fi
    fi
    # -DD: the creator does not daemonize, so $! is kamailio's main process; -E: log to stderr,
    # which goes to the log file; memory from SHM_MB / PKG_MB (above).
    # No DNS off the machine: as root, kamailio runs in a private mount namespace whose
    # /etc/resolv.conf names only 127.0.0.1 (no-dns.sh); otherwise it is started as it is.
    guard=""
    if [ "$(id -u)" = "0" ] && command -v unshare >/dev/null 2>&1; then
        printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$dir/resolv.conf"
        guard="unshare -m -- sh $HERE/no-dns.sh $dir/resolv.conf"
    else
        say "$name: not root, so its DNS is not confined to 127.0.0.1 (use IP addresses only)"
    fi
    # shellcheck disable=SC2086
    shm=$SHM_MB
    [ "$defines" = WITH_TLSWS ] && shm=$TLSWS_SHM_MB
    $guard kamailio -DD -E -f "$HERE/$cfg" $extra -Y "$dir" -m "$shm" -M "$PKG_MB" \
        </dev/null >"$dir/kamailio.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/kamailio.pid"
    waited=0
    while :; do
        if ! pid_alive "$pid"; then
            rm -f "$dir/kamailio.pid"
            tail -n 20 "$dir/kamailio.log" >&2 || true
            die "$name: kamailio exited during start-up (log: $dir/kamailio.log)"
        fi
        if listening "$port" tcp && listening "$port" udp; then
            up=yes
            for p in $tcp_ports; do listening "$p" tcp || up=""; done
            if [ -n "$up" ]; then
                say "$name started (pid $pid) on 127.0.0.1:$port udp+tcp${tcp_ports:+ and tcp $tcp_ports}; log $dir/kamailio.log"
                return 0
            fi
        fi
        if [ "$waited" -ge $((READY_TIMEOUT * 10)) ]; then
            tail -n 20 "$dir/kamailio.log" >&2 || true
            stop_instance "$name" || true
            die "$name: not listening on 127.0.0.1:$port udp+tcp${tcp_ports:+ and tcp $tcp_ports} after ${READY_TIMEOUT} s"
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

stop_instance() {
    name=$1
    port=$(instance_spec "$name" | cut -d' ' -f2)
    dir="$RUN_DIR/$name"
    pid=$(instance_pid "$name")
    if [ -z "$pid" ]; then
        rm -f "$dir/kamailio.pid"
        say "$name not running"
        forget_netns_dir "$dir"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    waited=0
    while pid_alive "$pid"; do
        if [ "$waited" -ge $((STOP_TIMEOUT * 10)) ]; then
            say "$name (pid $pid) still running after ${STOP_TIMEOUT} s: SIGKILL"
            # its worker processes (children of this pid) first, then the main process
            pkill -KILL -P "$pid" 2>/dev/null || true
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    wait "$pid" 2>/dev/null || true
    # the workers exit with the main process; wait (bounded) until the port is free
    waited=0
    while { listening "$port" tcp || listening "$port" udp || any_listening $(instance_tcp_ports "$name"); } \
        && [ "$waited" -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$dir/kamailio.pid"
    say "$name stopped (was pid $pid)"
    forget_netns_dir "$dir"
}

# forget_netns_dir DIR: in a namespace, the instance's run dir goes with it (the namespace
# goes next), and the namespace's own dir once empty
forget_netns_dir() {
    if [ -n "$NETNS" ] && [ -z "${KAMAILIO_RUN_DIR:-}" ]; then
        rm -rf "$1"
        rmdir "$RUN_DIR" "$HERE/run/netns" 2>/dev/null || true
    fi
}

status_instance() {
    name=$1
    port=$(instance_spec "$name" | cut -d' ' -f2)
    pid=$(instance_pid "$name")
    if [ -n "$pid" ]; then
        echo "$name: running, pid $pid, 127.0.0.1:$port"
        return 0
    fi
    echo "$name: stopped"
    return 3
}

# have_modules MODULE...: kamailio is installed and each MODULE.so is in its module directory
have_modules() {
    command -v kamailio >/dev/null 2>&1 || return 1
    for d in /usr/lib/*/kamailio/modules /usr/lib/kamailio/modules /usr/lib64/kamailio/modules; do
        [ -d "$d" ] || continue
        found=yes
        for m in "$@"; do [ -f "$d/$m.so" ] || found=""; done
        [ -n "$found" ] && return 0
    done
    return 1
}

# the outbound registrar and edge profiles (outbound, stun: kamailio-outbound-modules)
have_kamailio() { have_modules outbound stun; }

# the regevent profile: the reg event package (presence, presence_reginfo, pua, pua_reginfo:
# kamailio-presence-modules) over the text database (db_text: in the kamailio package itself)
have_regevent() { have_kamailio && have_modules presence presence_reginfo pua pua_reginfo db_text; }

# the tls-ws profile: tls (kamailio-tls-modules), websocket (kamailio-websocket-modules) and the
# xhttp server it answers the WebSocket upgrade with (in the kamailio package itself)
have_tlsws() { have_kamailio && have_modules tls websocket xhttp; }

# everything the profiles need (install installs what is missing of it)
have_all() { have_regevent && have_tlsws; }

PACKAGES="kamailio kamailio-outbound-modules kamailio-presence-modules kamailio-tls-modules kamailio-websocket-modules"

install_kamailio() {
    if have_all; then
        say "kamailio $(kamailio -v 2>/dev/null | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p') with the outbound, presence, tls and websocket modules is installed"
        return 0
    fi
    [ "$(id -u)" = "0" ] || die "kamailio (with kamailio-outbound-modules, kamailio-presence-modules, kamailio-tls-modules and kamailio-websocket-modules) is missing and installing it needs root"
    command -v apt-get >/dev/null 2>&1 || die "kamailio is missing and this is not a Debian-like system (no apt-get)"
    # A policy-rc.d that denies every service start, so that the package does not start its own
    # kamailio on 5060; removed (or the previous one restored) afterwards.
    policy=/usr/sbin/policy-rc.d
    backup=""
    if [ -e "$policy" ]; then backup="$policy.kamailioctl-saved"; mv "$policy" "$backup"; fi
    restore() {
        rm -f "$policy"
        if [ -n "$backup" ]; then mv "$backup" "$policy"; fi
    }
    trap restore EXIT INT TERM
    printf '#!/bin/sh\n# kamailioctl.sh install: no service starts during the install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    export DEBIAN_FRONTEND=noninteractive
    say "installing $PACKAGES from the distribution's packages"
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
    restore
    trap - EXIT INT TERM
    have_kamailio || die "installed, but kamailio or its outbound/stun modules are still missing"
    have_regevent || die "installed, but the presence/presence_reginfo/pua/pua_reginfo/db_text modules are still missing"
    have_tlsws || die "installed, but the tls/websocket/xhttp modules are still missing"
    say "installed $(kamailio -v 2>/dev/null | head -n 1)"
}

cmd=${1:-}
# validate the profile here: a die inside $(profile_instances ...) would only end the subshell
if [ $# -ge 2 ]; then profile_instances "$2" >/dev/null; fi
case "$cmd" in
    install)
        install_kamailio ;;
    installed)
        case "${2:-}" in
            regevent) have_regevent ;;
            tls-ws|registrar-tls-ws) have_tlsws ;;
            *) have_kamailio ;;
        esac ;;
    start)
        [ $# -eq 2 ] || die "usage: $0 start registrar|registrar-auth|regevent|edge|rel7|tls-ws|registrar-tls-ws"
        started=""
        for i in $(profile_instances "$2"); do
            # in a subshell, so that a failure can still stop what this profile already started
            if ! (start_instance "$i"); then
                for j in $started; do stop_instance "$j" || true; done
                exit 1
            fi
            started="$i $started"
        done ;;
    stop)
        [ $# -eq 2 ] || die "usage: $0 stop registrar|registrar-auth|regevent|edge|rel7|tls-ws|registrar-tls-ws"
        for i in $(reverse $(profile_instances "$2")); do stop_instance "$i"; done ;;
    status)
        rc=0
        if [ $# -ge 2 ]; then
            for i in $(profile_instances "$2"); do status_instance "$i" || rc=3; done
        else
            for i in registrar registrar-auth regevent edge edge-backend rel7 tls-ws tls-ws-backend registrar-tls-ws; do status_instance "$i" || true; done
        fi
        exit $rc ;;
    *)
        echo "usage: $0 install | installed | start PROFILE | stop PROFILE | status [PROFILE]   (PROFILE: registrar, registrar-auth, regevent, edge, rel7, tls-ws, registrar-tls-ws)" >&2
        exit 2 ;;
esac
