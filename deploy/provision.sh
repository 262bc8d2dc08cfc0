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
#   PNSBOX_EDGES_LISTEN where the hub's edge listener (pnsbox-web --edges) listens when the site
#                      has site.edges_url (default 0.0.0.0:8444, the port edges_url names)
#   PNSBOX_SHARE       a directory the hub and its edges share: the hub writes each edge's one-time
#                      enrollment token (edge-OPD.token) and its certificate's SHA-256
#                      (hub.fingerprint) there; an edge reads them
#   PNSBOX_EDGE_OPDS   on the hub: the tunnelled OPDs to write tokens for ("dispar dishub")
#   PNSBOX_OPD         on an edge: its OPD
#   PNSBOX_HUB_URL     on an edge: the hub's site.edges_url (https://...)
set -eu

role=${1:?usage: provision.sh hub|internet|datacenter|opd|edge}
src=${PNSBOX_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
site=${PNSBOX_SITE:-$src/rules/examples/province}
web_listen=${PNSBOX_WEB_LISTEN:-0.0.0.0:443}
edges_listen=${PNSBOX_EDGES_LISTEN:-0.0.0.0:8444}
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

# Waits are bounded in time, not tries: an emulated machine is slow (PNSBOX_WAIT, default 600 s).
wait_seconds=${PNSBOX_WAIT:-600}
within_wait() { [ $(( $(date +%s) - since )) -lt "$wait_seconds" ]; }  # since: when the wait began

# What a service that did not come up said: its journal, or its log without systemd.
show_log() {
  if has_systemd; then
    journalctl -u "$1.service" -n 60 --no-pager || true
  else
    log=/run/pnsbox/${1#pnsbox-}.log
    [ "$1" = pnsboxd ] && log=/run/pnsbox/pnsboxd.log
    echo "---- $log ----"; tail -n 60 "$log" 2>/dev/null || true
  fi
}

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

# What was installed, by the content of the sources: a second provisioning of the same sources
# (an edge after the hub on one machine, `vagrant provision` again) does not reinstall.
source_digest() {
  (cd "$src" && find pnsbox webui/*.py webui/templates webui/static systemd rules/apps setup.cfg pyproject.toml \
     Makefile -type f ! -name '*.pyc' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
}

install_pnsbox() {
  stamp=/opt/pnsbox/installed-from
  digest=$(source_digest)
  if [ -x "$bindir/pnsbox" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$digest" ]; then
    say "pnsbox from these sources is installed already"
    return 0
  fi
  say "make install from $src"
  make -s -C "$src" install
  echo "$digest" > "$stamp"
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
  since=$(date +%s)
  until [ -S /run/pnsbox/control.sock ]; do
    within_wait || { say "pnsboxd did not open its control socket"; show_log pnsboxd; exit 1; }
    sleep 0.2
  done
}

# pnsbox-web as UNIT (pnsbox-web: the admin web UI; pnsbox-web-edges: the edge listener, with
# --edges) on LISTEN, its state in /var/lib/UNIT; returns once it answers over HTTPS.
start_web() {
  unit=$1 listen=$2; shift 2
  state=/var/lib/$unit
  if has_systemd; then
    install -d -m 0700 -o pnsbox-web -g pnsbox-web "$state"
    sed -i "s#--listen [^ ]*#--listen $listen#" "/etc/systemd/system/$unit.service"
    systemctl daemon-reload
    if [ ! -e "$state/tls/cert.pem" ]; then
      runuser -u pnsbox-web -- "$bindir/pnsbox-web" "$@" --state-dir "$state" --socket /run/pnsbox/control.sock --init
    fi
    systemctl enable --now "$unit.service"
  else
    install -d -m 0700 "$state"
    "$bindir/pnsbox-web" "$@" --state-dir "$state" --socket /run/pnsbox/control.sock --init
    setsid "$bindir/pnsbox-web" "$@" --state-dir "$state" --socket /run/pnsbox/control.sock --listen "$listen" \
      > "/run/pnsbox/${unit#pnsbox-}.log" 2>&1 < /dev/null &
    echo $! > "/run/pnsbox/${unit#pnsbox-}.pid"
  fi
  since=$(date +%s)
  until curl -sk -m 10 -o /dev/null "https://127.0.0.1:${listen##*:}/login"; do
    within_wait || { say "$unit did not answer on $listen"; show_log "$unit"; exit 1; }
    sleep 0.5
  done
  say "$unit answers on $listen"
}

# The hub's half of enrolling its edges: a one-time token per tunnelled OPD (7 days) and the edge
# listener's certificate fingerprint, which the edge pins before it sends the token.
edge_tokens() {
  [ -n "${PNSBOX_SHARE:-}" ] && [ -n "${PNSBOX_EDGE_OPDS:-}" ] || return 0
  mkdir -p "$PNSBOX_SHARE"
  /opt/pnsbox/venv/bin/python -c 'import hashlib, ssl, sys
print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())' \
    /var/lib/pnsbox-web-edges/tls/cert.pem > "$PNSBOX_SHARE/hub.fingerprint"
  for opd in $PNSBOX_EDGE_OPDS; do
    "$bindir/pnsbox" edge token add "$opd" --expires 7d --author provision.sh | head -1 > "$PNSBOX_SHARE/edge-$opd.token.new"
    mv "$PNSBOX_SHARE/edge-$opd.token.new" "$PNSBOX_SHARE/edge-$opd.token"
    say "enrollment token for $opd's edge in $PNSBOX_SHARE/edge-$opd.token"
  done
}

edge_state=/var/lib/pnsbox-edge

enrol_edge() {
  opd=${PNSBOX_OPD:?PNSBOX_OPD: which OPD this edge is}
  url=${PNSBOX_HUB_URL:?PNSBOX_HUB_URL: site.edges_url of the hub}
  if [ -e "$edge_state/edge.json" ]; then
    say "enrolled already ($edge_state/edge.json)"
    return 0
  fi
  token_file=${PNSBOX_SHARE:-/nonexistent}/edge-$opd.token
  if [ ! -s "$token_file" ]; then
    say "no enrollment token at $token_file: the hub's provisioning writes it (provision the hub first)"
    exit 1
  fi
  pin=""
  [ -s "$PNSBOX_SHARE/hub.fingerprint" ] && pin="--fingerprint $(cat "$PNSBOX_SHARE/hub.fingerprint")"
  install -d -m 0700 "$edge_state"
  # Enrolled once edge.json is written; a first config that did not apply yet (exit 3) is left to
  # `pnsbox edge run`, which fetches it again, and start_edge waits for the tunnel.
  # shellcheck disable=SC2086 # $pin is empty or two words
  "$bindir/pnsbox" edge enroll "$url" "$(cat "$token_file")" --state-dir "$edge_state" $pin \
    || [ -e "$edge_state/edge.json" ]
}

start_edge() {
  if has_systemd; then
    systemctl enable --now pnsbox-edge.service
  else
    mkdir -p /run/pnsbox
    setsid "$bindir/pnsbox" edge run --state-dir "$edge_state" --interval 10 \
      > /run/pnsbox/edge.log 2>&1 < /dev/null &
    echo $! > /run/pnsbox/edge.pid
  fi
  interface=$(/opt/pnsbox/venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["interface"])' \
    "$edge_state/edge.json")
  since=$(date +%s)
  until wg show "$interface" latest-handshakes 2>/dev/null | awk '$2 > 0 {ok=1} END {exit !ok}'; do
    within_wait || { say "tunnel $interface to the hub has no handshake"; show_log pnsbox-edge; exit 1; }
    sleep 0.5
  done
  say "tunnel $interface to the hub is up: $(wg show "$interface" endpoints | awk '{print $2}')"
}

case "$role" in
  hub)
    name_links
    install_pnsbox
    if [ ! -e /etc/pnsbox/pnsbox.yaml ]; then
      mkdir -p /etc/pnsbox
      cp -rL "$site"/. /etc/pnsbox/  # -L: the Vagrant site links to the example's OPD files
    fi
    "$bindir/pnsbox" validate -c /etc/pnsbox
    start_daemon
    "$bindir/pnsbox" apply -c /etc/pnsbox --message "provisioned by deploy/provision.sh"
    start_web pnsbox-web "$web_listen"
    if grep -q '^ *edges_url:' /etc/pnsbox/pnsbox.yaml; then
      start_web pnsbox-web-edges "$edges_listen" --edges
      edge_tokens
    fi
    "$bindir/pnsbox" show | head -20
    ;;
  internet)
    name_links
    add_addresses_and_routes
    forward
    install_pnsbox
    serve
    ;;
  edge)
    # An OPD office's router: its LAN reaches the province through the WireGuard tunnel that
    # pnsbox's edge sets up with the hub (enrolled once with the hub's token, then `edge run`).
    name_links
    add_addresses_and_routes
    forward
    install_pnsbox
    enrol_edge
    start_edge
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
