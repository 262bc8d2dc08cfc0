"""WireGuard interfaces as data -> the text wg(8) and wireguard-go read; dumps read back; keys."""

import base64

import pytest

from pnsbox.edge.keys import decode, hex_key, new_private_key, public_key, valid_public_key
from pnsbox.observe.wg import parse_dump
from pnsbox.render.wg import WgInterface, WgPeer, syncconf_text, uapi_set_text

# RFC 7748 section 6.1: Alice's private and public keys.
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
PRIVATE = base64.b64encode(ALICE_PRIVATE).decode()
PUBLIC = base64.b64encode(ALICE_PUBLIC).decode()


def test_a_public_key_is_derived_as_curve25519_says():
    assert public_key(PRIVATE) == PUBLIC


def test_new_private_keys_differ_and_have_public_keys():
    one, two = new_private_key(), new_private_key()
    assert one != two and len(decode(one)) == 32 and valid_public_key(public_key(one))


@pytest.mark.parametrize("bad", ["", "abc", "x" * 44, base64.b64encode(b"\0" * 31).decode(), None])
def test_a_malformed_key_is_refused(bad):
    with pytest.raises(ValueError, match="not a WireGuard key"):
        valid_public_key(bad)


def hub() -> WgInterface:
    return WgInterface("pnsbox-wg", PRIVATE, 51820, (
        WgPeer(PUBLIC, ("10.255.0.2/32", "10.61.0.0/24"), origin="opds.disdik"),
        WgPeer(PUBLIC.replace("h", "g"), ("10.255.0.3/32",), "198.51.100.7:51820", 25, "opds.dispar"),
    ))


def test_the_hub_in_wg_syncconf_format():
    assert syncconf_text(hub()) == f"""\
[Interface]
PrivateKey = {PRIVATE}
ListenPort = 51820

[Peer]
PublicKey = {PUBLIC}
AllowedIPs = 10.255.0.2/32, 10.61.0.0/24

[Peer]
PublicKey = {PUBLIC.replace("h", "g")}
AllowedIPs = 10.255.0.3/32
Endpoint = 198.51.100.7:51820
PersistentKeepalive = 25
"""


def test_the_hub_as_one_set_on_wireguard_gos_control_socket():
    text = uapi_set_text(hub())
    assert text.startswith(f"set=1\nprivate_key={ALICE_PRIVATE.hex()}\nlisten_port=51820\nreplace_peers=true\n"
                           f"public_key={ALICE_PUBLIC.hex()}\nreplace_allowed_ips=true\n")
    assert "endpoint=198.51.100.7:51820\npersistent_keepalive_interval=25\nallowed_ip=10.255.0.3/32\n\n" in text
    assert text.endswith("\n\n") and hex_key(PUBLIC) == ALICE_PUBLIC.hex()


def test_an_edge_dials_out_from_any_port():
    assert "ListenPort" not in syncconf_text(WgInterface("wg-edge", PRIVATE, None, ()))


def test_a_dump_is_read_into_peers():
    dump = (f"{PRIVATE}\t{PUBLIC}\t51820\toff\n"
            f"{PUBLIC}\t(none)\t192.0.2.2:38701\t10.61.0.0/24,10.255.0.2/32\t1796030606\t180\t92\toff\n"
            f"{PRIVATE}\t(none)\t(none)\t(none)\t0\t0\t0\t25\n")
    state = parse_dump("pnsbox-wg", dump)
    assert (state.public_key, state.listen_port) == (PUBLIC, 51820)
    seen = state.peers[PUBLIC]
    assert (seen.endpoint, seen.allowed_ips, seen.latest_handshake, seen.rx_bytes, seen.tx_bytes, seen.keepalive) == (
        "192.0.2.2:38701", ("10.255.0.2/32", "10.61.0.0/24"), 1796030606, 180, 92, None)
    never = state.peers[PRIVATE]
    assert (never.endpoint, never.allowed_ips, never.latest_handshake, never.keepalive) == (None, (), 0, 25)
