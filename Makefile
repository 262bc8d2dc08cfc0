# The two commands: `make demo` and `make test`. Both install what they need
# (Debian packages, a virtual environment) and must work on a fresh Debian 12 as root.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := time nftables iproute2 iptables iperf3 curl procps python3-venv python3-pip dnsmasq-base bind9-dnsutils conntrack chromium nodejs libnetfilter-queue-dev build-essential python3-dev prometheus wireguard-go wireguard-tools tcpdump openvpn vagrant vagrant-libvirt keepalived conntrackd
SITE := rules/examples/province
LAB := demo

.PHONY: demo test setup deps venv assets native demo-stop lint unit kernel golden-update demo-down clean install prometheus-rules test-vm vm-deps vagrant-validate

setup: deps venv assets native

deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The classifier's hot path compiled with mypyc beside its sources (git-ignored .so files; see
# pnsbox/classifier/native.py). A failed build is said and leaves the classifier in pure Python.
NATIVE_SOURCES := $(addprefix pnsbox/classifier/,wire.py tls.py quic.py dns.py packet.py verdict.py flows.py lookup.py engine.py native.py) tools/build_native.py
native: build/native/.built

build/native/.built: $(NATIVE_SOURCES) | venv
	@mkdir -p build/native
	@$(BIN)/python tools/build_native.py > build/native/build.log 2>&1 \
	  && echo "classifier hot path compiled (mypyc)" \
	  || (tail -n 5 build/native/build.log; echo "classifier hot path NOT compiled: it runs in pure Python")
	@touch $@

# The web UI's front-end libraries, from the npm registry at build time (served locally: no CDN).
VENDOR := webui/static/vendor
assets: $(VENDOR)/uPlot.iife.min.js

$(VENDOR)/uPlot.iife.min.js: webui/package.json webui/package-lock.json | deps
	command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm)
	cd webui && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp webui/node_modules/uplot/dist/uPlot.iife.min.js webui/node_modules/uplot/dist/uPlot.min.css $(VENDOR)/

# The demo's pnsboxd (managing the lab's hub) and web UI; their pids, socket and logs live here.
DEMO_RUN := /run/pnsbox-demo
# The demo's own state directory, never the machine's /var/lib/pnsbox.
DEMO_STATE := $(DEMO_RUN)/state
WEB_LISTEN ?= 127.0.0.1:8443

demo: setup
	-@$(MAKE) -s demo-stop
	-$(BIN)/pnsbox lab down --name $(LAB) >/dev/null 2>&1
	$(BIN)/pnsbox validate -c $(SITE)
	@rm -rf $(DEMO_STATE) && mkdir -p $(DEMO_RUN)   # a new lab: a new history
	@# The site has an OPD across town (dispar): lab up starts pnsboxd on the lab's hub, applies the
	@# site through it and enrols dispar's edge box over HTTPS and WireGuard.
	$(BIN)/pnsbox lab up -c $(SITE) --name $(LAB) --state-dir $(DEMO_STATE) --socket $(DEMO_RUN)/control.sock
	@setsid $(BIN)/pnsbox-classifier --netns pnsbox-$(LAB)-hub > $(DEMO_RUN)/classifier.log 2>&1 & \
	  echo $$! > $(DEMO_RUN)/classifier.pid
	@for i in $$(seq 100); do $(BIN)/pnsbox lab exec --name $(LAB) hub -- cat /proc/net/netfilter/nfnetlink_queue \
	  | grep -q . && break; sleep 0.1; done
	@echo; echo "--- dinkes -> simpeg http (policy simpeg-for-all):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 http://10.0.10.10/
	@echo "--- bappeda -> internet http (policy internet; the answer shows the NATed source):"
	@$(BIN)/pnsbox lab exec --name $(LAB) bappeda -- curl -sS -m 2 http://203.0.113.10/
	@echo "--- dinkes -> bappeda http (no policy: default deny):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 http://10.22.0.2/ 2>&1 || true
	@echo "--- dinkes -> internet smtp (policy no-outbound-smtp rejects):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 telnet://203.0.113.10:25 2>&1 || true
	@echo "--- dinkes -> internet http, Host www.pajak.go.id (pnsbox-classifier: e-government; allowed):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 -H 'Host: www.pajak.go.id' http://203.0.113.10/
	@echo "--- dinkes -> internet http, Host www.youtube.com (category video: policy no-video rejects):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 -H 'Host: www.youtube.com' http://203.0.113.10/ 2>&1 || true
	@echo "--- dispar (across town, through its edge's WireGuard tunnel) -> simpeg http (policy simpeg-for-all):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dispar -- curl -sS -m 2 http://10.0.10.10/
	@echo "--- dispar (through the tunnel) -> bappeda http (no policy: default deny):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dispar -- curl -sS -m 2 http://10.22.0.2/ 2>&1 || true
	@echo "--- diskominfo -> dispar http (policy it-support: the IT office reaches a host behind dispar's edge):"
	@$(BIN)/pnsbox lab exec --name $(LAB) diskominfo -- curl -sS -m 2 http://10.61.0.2/
	@echo
	$(BIN)/pnsbox show --lab $(LAB) --state-dir $(DEMO_STATE)
	@echo
	@echo "The lab '$(LAB)' runs the example site. Try:"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS http://10.0.10.10/      # simpeg: allowed"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 http://10.22.0.2/  # bappeda: denied"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) bappeda -- curl -sS http://203.0.113.10/  # internet, NATed"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) dispar -- curl -sS http://10.0.10.10/      # through dispar's edge box"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) edge-dispar -- $(BIN)/pnsbox edge status --state-dir /run/pnsbox-lab/$(LAB)/edges/edge-dispar"
	@echo "  $(BIN)/pnsbox plan -c $(SITE) --lab $(LAB) --state-dir $(DEMO_STATE)    # nothing to change"
	@echo "  $(BIN)/pnsbox show --lab $(LAB) --state-dir $(DEMO_STATE)               # per-OPD counters"
	@echo
	@rm -rf $(DEMO_RUN)/web
	@echo "--- starting the web UI (log in $(DEMO_RUN)); pnsboxd manages the lab's hub since lab up (log in /run/pnsbox-lab/$(LAB))"
	@$(BIN)/pnsbox-web --state-dir $(DEMO_RUN)/web --socket $(DEMO_RUN)/control.sock --init \
	  | grep -o 'user admin, password .*' > $(DEMO_RUN)/.admin && chmod 600 $(DEMO_RUN)/.admin
	@setsid $(BIN)/pnsbox-web --state-dir $(DEMO_RUN)/web --socket $(DEMO_RUN)/control.sock --listen $(WEB_LISTEN) \
	  > $(DEMO_RUN)/web.log 2>&1 & echo $$! > $(DEMO_RUN)/web.pid
	@for i in $$(seq 100); do curl -sk -o /dev/null https://$(WEB_LISTEN)/login && break; sleep 0.1; done
	@echo
	@echo "The web UI: https://$(WEB_LISTEN)/  (a self-signed certificate: accept it in the browser)"
	@sed 's/^/  first admin: /' $(DEMO_RUN)/.admin && rm -f $(DEMO_RUN)/.admin   # shown once; only its hash is kept
	@echo "  add users: $(BIN)/pnsbox user --web-state-dir $(DEMO_RUN)/web add NAME --role operator --opd dinkes"
	@echo "  the CLI through the demo's daemon: $(BIN)/pnsbox apply -c $(SITE) --socket $(DEMO_RUN)/control.sock --confirm 120"
	@echo "  make demo-down                                # stop them and remove the lab (and its pnsboxd)"

# Stop the demo's web UI and classifier: only the processes `make demo` started (their pid files);
# `pnsbox lab down` stops the lab's pnsboxd, edges and edge listener.
demo-stop:
	-@for name in web pnsboxd classifier; do \
	  if [ -f $(DEMO_RUN)/$$name.pid ]; then kill $$(cat $(DEMO_RUN)/$$name.pid) 2>/dev/null; rm -f $(DEMO_RUN)/$$name.pid; fi; \
	done; sleep 1

demo-down: venv demo-stop
	$(BIN)/pnsbox lab down --name $(LAB)

lint: venv
	$(BIN)/ruff check .

test: setup lint prometheus-rules vagrant-validate
	$(BIN)/pytest -q -p no:cacheprovider
	@echo "make test: the full-kernel tier (Debian's kernel in qemu, tests/full_kernel) was skipped:" \
	  "it takes ~$(VM_MINUTES) minutes under emulation on 2 cores; run it with: make test-vm"

# The full-kernel tier: tests/full_kernel (802.1Q trunks, fq_codel/cake leaves, nft `queue`, kernel
# WireGuard, the Vagrant hub's provisioning) inside Debian's own kernel in qemu (KVM if it works,
# else TCG), over this machine's files. Prints how many passed; fails if none did.
VM_APT_PACKAGES := qemu-system-x86 busybox-static cpio kmod
VM_MINUTES := 30

vm-deps:
	@missing=$$(for p in $(VM_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test-vm: setup vm-deps
	$(BIN)/python tests/vm/tier.py

# The Vagrantfile parses and its machines and libvirt settings are well formed (no box is
# downloaded: none can be here). VirtualBox is not a Debian package: its settings are checked by
# Vagrant's own VirtualBox provider against a stand-in VBoxManage that only tells a version, so
# a VirtualBox run itself stays unvalidated here.
vagrant-validate: deps
	@out=$$(VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_HOME=$${VAGRANT_HOME:-$(CURDIR)/.cache/vagrant} vagrant validate 2>&1) \
	  || { echo "$$out"; exit 1; }; echo "Vagrantfile (libvirt): $$(echo "$$out" | tail -1)"
	@stub=$$(mktemp -d); printf '#!/bin/sh\n[ "$$1" = --version ] && echo 7.0.14r161095\n' > $$stub/VBoxManage; \
	chmod +x $$stub/VBoxManage; out=$$(PATH=$$stub:$$PATH VAGRANT_DEFAULT_PROVIDER=virtualbox \
	  VAGRANT_HOME=$${VAGRANT_HOME:-$(CURDIR)/.cache/vagrant} vagrant validate 2>&1); rc=$$?; rm -rf $$stub; \
	[ $$rc -eq 0 ] || { echo "$$out"; exit 1; }; \
	echo "Vagrantfile (VirtualBox settings, stand-in VBoxManage): $$(echo "$$out" | tail -1)"

# contrib/prometheus: the rules must load (promtool check) and give the rates and alerts their tests expect.
prometheus-rules: deps
	cd contrib/prometheus && promtool check rules pnsbox.rules.yml pnsbox.alerts.yml && promtool test rules pnsbox_test.yml

unit: venv
	$(BIN)/pytest -q tests/unit tests/golden

golden-update: venv
	PNSBOX_UPDATE_GOLDEN=1 $(BIN)/pytest -q tests/golden

# The appliance install: a venv in $(PREFIX), the commands linked into $(BINDIR), the systemd
# units and the pnsbox group. Then: systemctl enable --now pnsbox-boot pnsboxd
PREFIX ?= /opt/pnsbox
BINDIR ?= /usr/local/bin
UNITDIR ?= /etc/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d

install: deps assets
	test -x $(PREFIX)/venv/bin/python || $(PYTHON) -m venv $(PREFIX)/venv
	$(PREFIX)/venv/bin/pip install -q --upgrade pip
	$(PREFIX)/venv/bin/pip install -q .
	install -d $(BINDIR) $(UNITDIR) $(SYSUSERSDIR)
	install -d -m 0750 /etc/pnsbox/ha
	for cmd in $$(cd $(PREFIX)/venv/bin && ls pnsbox pnsboxd pnsbox-* 2>/dev/null); do \
	  ln -sf $(PREFIX)/venv/bin/$$cmd $(BINDIR)/$$cmd; done
	for unit in systemd/*.service; do \
	  sed 's#/usr/local/bin/#$(BINDIR)/#g' $$unit > $(UNITDIR)/$$(basename $$unit); done
	install -m 0644 systemd/pnsbox.sysusers $(SYSUSERSDIR)/pnsbox.conf
	if [ -d /run/systemd/system ]; then systemd-sysusers $(SYSUSERSDIR)/pnsbox.conf && systemctl daemon-reload; fi
	@echo "installed; start with: systemctl enable --now pnsbox-boot pnsboxd"

clean:
	rm -rf $(VENV) *.egg-info build pnsbox/classifier/*.so
