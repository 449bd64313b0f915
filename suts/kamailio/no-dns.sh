#!/bin/sh
# no-dns.sh RESOLV_CONF COMMAND...: run COMMAND with RESOLV_CONF bind-mounted on /etc/resolv.conf.
# Called by kamailioctl.sh inside `unshare -m` (a private mount namespace, so the host's file is
# untouched): Kamailio's resolver then asks only 127.0.0.1, where nothing answers, and a name in
# a test message (example.com in an RFC 4475 torture request, say) never sends a DNS query off
# the machine. The project's traffic stays on loopback.
set -e
resolv=$1
shift
mount --bind "$resolv" /etc/resolv.conf
exec "$@"
