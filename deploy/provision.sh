#!/bin/sh
# Make a Debian 12 machine one box of the example province: what the Vagrantfile runs on each
# machine, and what the full-kernel tier (make test-vm) runs for the hub, so this script is
# tested even where `vagrant up` cannot run.
#
#   deploy/provision.sh hub|internet|datacenter|opd|edge
#
# Environment (all optional):
#   PNSBOX_SRC         the pnsbox checkout (default: the one this script is in)
#   PNSBOX_LINKS       "NAME=MAC ...": give the interface with MAC the name the site uses (wan0,
#                      dc0, ...), now and at every boot (a systemd .link file)
#   PNSBOX_ROUTES      "DESTINATION=GATEWAY ...": routes to add (replaced if present)
#   PNSBOX_ADDRESSES   "DEVICE=CIDR ...": extra addresses (e.g. the internet's servers on lo)
#   PNSBOX_SERVE       "tcp/80 udp/53 ...": ports a pnsbox lab responder answers on
#   PNSBOX_SITE        the site to apply on the hub (default: rules/examples/province)
#   PNSBOX_WEB_LISTEN  where the hub's web UI listens (default 0.0.0.0:443)
set -eu

role=${1:?usage: provision.sh hub|internet|datacenter|opd|edge}
src=${PNSBOX_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
site=${PNSBOX_SITE:-$src/rules/examples/province}
web_listen=${PNSBOX_WEB_LISTEN:-0.0.0.0:443}
bindir=${BINDIR:-/usr/local/bin}
say() { echo "provision[$role] $(date +%T): $*"; }

name_links() {
  for pair in ${PNSBOX_LINKS:-}; do
    name=${pair%%=*} mac=${pair#*=}
    if [ -d /etc/systemd/network ] || [ -d /run/systemd/system ]; then
      mkdir -p /etc/systemd/network
      printf '[Match]\nMACAddress=%s\n\n[Link]\nName=%s\n' "$mac" "$name" > "/etc/systemd/network/10-pnsbox-$name.link"
    fi
    current=$(ip -o link | awk -v mac="$mac" '$0 ~ "link/ether " mac {sub(":", "", $2); sub("@.*", "", $2); print $2}')
    [ -n "$current" ] || { say "no interface has MAC $mac (for $name)"; exit 1; }
    if [ "$current" != "$name" ]; then
      ip link set dev "$current" down
      ip link set dev "$current" name "$name"
    fi
    ip link set dev "$name" up
    say "interface $name is $mac"
  done
}

add_addresses_and_routes() {
  for pair in ${PNSBOX_ADDRESSES:-}; do
    ip addr replace "${pair#*=}" dev "${pair%%=*}"
  done
  for pair in ${PNSBOX_ROUTES:-}; do
    ip route replace "${pair%%=*}" via "${pair#*=}"
  done
}

forward() {
  sysctl -qw net.ipv4.ip_forward=1
  echo net.ipv4.ip_forward=1 > /etc/sysctl.d/60-pnsbox-router.conf
}

has_systemd() { [ -d /run/systemd/system ]; }

# The lab's responder (pnsbox.lab.responder): HTTP on TCP, an echo on UDP, naming who asked.
serve() {
  [ -n "${PNSBOX_SERVE:-}" ] || return 0
  args=""
  for port in $PNSBOX_SERVE; do args="$args --${port%%/*} ${port#*/}"; done
  if has_systemd; then
    cat > /etc/systemd/system/pnsbox-responder.service <<EOF
[Unit]
Description=pnsbox lab responder (answers on $PNSBOX_SERVE)
After=network-online.target
[Service]
ExecStart=/opt/pnsbox/venv/bin/python -m pnsbox.lab.responder $(hostname)$args
Restart=on-failure
[Install]
WantedBy=multi-user.target
EOF
    systemctl daemon-reload
    systemctl enable --now pnsbox-responder.service
  else
    setsid /opt/pnsbox/venv/bin/python -m pnsbox.lab.responder "$(hostname)" $args >/dev/null 2>&1 < /dev/null &
  fi
  say "answering on $PNSBOX_SERVE"
}

install_pnsbox() {
  say "make install from $src"
  make -s -C "$src" install
}

# Started as the units start them (same arguments); without systemd (the full-kernel tier's
# guest), as background processes with their pids in /run/pnsbox.
start_daemon() {
  if has_systemd; then
    systemctl enable --now pnsbox-boot.service pnsboxd.service
  else
    mkdir -p /run/pnsbox /var/lib/pnsbox
    setsid "$bindir/pnsboxd" --state-dir /var/lib/pnsbox --socket /run/pnsbox/control.sock \
      > /run/pnsbox/pnsboxd.log 2>&1 < /dev/null &
    echo $! > /run/pnsbox/pnsboxd.pid
  fi
  for _ in $(seq 600); do [ -S /run/pnsbox/control.sock ] && return 0; sleep 0.2; done
  say "pnsboxd did not open its control socket"; exit 1
}

start_web() {
  state=/var/lib/pnsbox-web
  if has_systemd; then
    install -d -m 0700 -o pnsbox-web -g pnsbox-web "$state"
    sed -i "s#--listen [^ ]*#--listen $web_listen#" /etc/systemd/system/pnsbox-web.service
    systemctl daemon-reload
    if [ ! -e "$state/users.json" ]; then
      runuser -u pnsbox-web -- "$bindir/pnsbox-web" --state-dir "$state" --socket /run/pnsbox/control.sock --init
    fi
    systemctl enable --now pnsbox-web.service
  else
    install -d -m 0700 "$state"
    "$bindir/pnsbox-web" --state-dir "$state" --socket /run/pnsbox/control.sock --init
    setsid "$bindir/pnsbox-web" --state-dir "$state" --socket /run/pnsbox/control.sock --listen "$web_listen" \
      > /run/pnsbox/web.log 2>&1 < /dev/null &
    echo $! > /run/pnsbox/web.pid
  fi
  port=${web_listen##*:}
  for _ in $(seq 600); do
    curl -sk -m 10 -o /dev/null "https://127.0.0.1:$port/login" && { say "web UI answers on $web_listen"; return 0; }
    sleep 0.2
  done
  say "the web UI did not answer on $web_listen"; exit 1
}

case "$role" in
  hub)
    name_links
    install_pnsbox
    if [ ! -e /etc/pnsbox/pnsbox.yaml ]; then
      mkdir -p /etc/pnsbox
      cp -r "$site"/. /etc/pnsbox/
    fi
    "$bindir/pnsbox" validate -c /etc/pnsbox
    start_daemon
    "$bindir/pnsbox" apply -c /etc/pnsbox --message "provisioned by deploy/provision.sh"
    start_web
    "$bindir/pnsbox" show | head -20
    ;;
  internet|edge)
    # edge: an OPD's router. Today it routes its OPD's LAN in the clear; the WireGuard tunnel to
    # the hub (pnsbox's edge enrollment, issue 12) is set up on these boxes once it ships.
    name_links
    add_addresses_and_routes
    forward
    if [ "$role" = internet ]; then install_pnsbox; serve; fi
    ;;
  datacenter)
    name_links
    add_addresses_and_routes
    install_pnsbox
    serve
    ;;
  opd)
    name_links
    add_addresses_and_routes
    ;;
  *)
    echo "provision.sh: unknown role $role (hub, internet, datacenter, opd, edge)" >&2
    exit 2
    ;;
esac
say "done"
