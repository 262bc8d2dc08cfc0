# The two commands: `make demo` and `make test`. Both install what they need
# (Debian packages, a virtual environment) and must work on a fresh Debian 12 as root.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := nftables iproute2 iptables iperf3 curl procps python3-venv python3-pip dnsmasq-base bind9-dnsutils conntrack
SITE := rules/examples/province
LAB := demo

.PHONY: demo test setup deps venv lint unit kernel golden-update demo-down clean install

setup: deps venv

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

demo: setup
	-$(BIN)/pnsbox lab down --name $(LAB) >/dev/null 2>&1
	$(BIN)/pnsbox validate -c $(SITE)
	$(BIN)/pnsbox lab up -c $(SITE) --name $(LAB)
	$(BIN)/pnsbox apply -c $(SITE) --lab $(LAB)
	@echo; echo "--- dinkes -> simpeg http (policy simpeg-for-all):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 http://10.0.10.10/
	@echo "--- bappeda -> internet http (policy internet; the answer shows the NATed source):"
	@$(BIN)/pnsbox lab exec --name $(LAB) bappeda -- curl -sS -m 2 http://203.0.113.10/
	@echo "--- dinkes -> bappeda http (no policy: default deny):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 http://10.22.0.2/ 2>&1 || true
	@echo "--- dinkes -> internet smtp (policy no-outbound-smtp rejects):"
	@$(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 telnet://203.0.113.10:25 2>&1 || true
	@echo
	$(BIN)/pnsbox show --lab $(LAB)
	@echo
	@echo "The lab '$(LAB)' runs the example site. Try:"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS http://10.0.10.10/      # simpeg: allowed"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) dinkes -- curl -sS -m 2 http://10.22.0.2/  # bappeda: denied"
	@echo "  $(BIN)/pnsbox lab exec --name $(LAB) bappeda -- curl -sS http://203.0.113.10/  # internet, NATed"
	@echo "  $(BIN)/pnsbox plan -c $(SITE) --lab $(LAB)    # nothing to change"
	@echo "  $(BIN)/pnsbox show --lab $(LAB)               # per-OPD counters"
	@echo "  make demo-down                                # remove the lab"

demo-down: venv
	$(BIN)/pnsbox lab down --name $(LAB)

lint: venv
	$(BIN)/ruff check .

test: setup lint
	$(BIN)/pytest -q -p no:cacheprovider

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

install: deps
	test -x $(PREFIX)/venv/bin/python || $(PYTHON) -m venv $(PREFIX)/venv
	$(PREFIX)/venv/bin/pip install -q --upgrade pip
	$(PREFIX)/venv/bin/pip install -q .
	install -d $(BINDIR) $(UNITDIR) $(SYSUSERSDIR)
	for cmd in $$(cd $(PREFIX)/venv/bin && ls pnsbox pnsboxd pnsbox-* 2>/dev/null); do \
	  ln -sf $(PREFIX)/venv/bin/$$cmd $(BINDIR)/$$cmd; done
	for unit in systemd/*.service; do \
	  sed 's#/usr/local/bin/#$(BINDIR)/#g' $$unit > $(UNITDIR)/$$(basename $$unit); done
	install -m 0644 systemd/pnsbox.sysusers $(SYSUSERSDIR)/pnsbox.conf
	if [ -d /run/systemd/system ]; then systemd-sysusers $(SYSUSERSDIR)/pnsbox.conf && systemctl daemon-reload; fi
	@echo "installed; start with: systemctl enable --now pnsbox-boot pnsboxd"

clean:
	rm -rf $(VENV) *.egg-info
