"""Lookup structures whose cost does not grow with the catalog: domain suffixes in a dict
walked label by label, address ranges as sorted disjoint intervals searched by bisection."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network
from typing import Generic, TypeVar

V = TypeVar("V")


class DomainSuffixes(Generic[V]):
    """Domain patterns -> values. `example.com` matches example.com and every name under it;
    the longest matching suffix wins. `lpse.*.go.id` matches names whose first label is `lpse`
    and that end in `.go.id` with at least one label between; such patterns win over plain
    suffixes. Cost: one dict probe per label of the name looked up."""

    def __init__(self, patterns: Iterable[tuple[str, V]] = ()):
        self._suffixes: dict[str, V] = {}
        self._first_labels: dict[str, list[tuple[str, V]]] = {}
        for pattern, value in patterns:
            self.add(pattern, value)

    def add(self, pattern: str, value: V) -> None:
        first, star, rest = pattern.partition(".*.")
        if star:
            self._first_labels.setdefault(first, []).append(("." + rest, value))
        else:
            self._suffixes[pattern] = value

    def match(self, name: str) -> V | None:
        if self._first_labels:
            dot = name.find(".")
            for suffix, wildcard in self._first_labels.get(name[:dot], ()) if dot > 0 else ():
                if name.endswith(suffix) and len(name) > dot + len(suffix):
                    return wildcard
        suffixes = self._suffixes
        pos = 0
        while True:
            value = suffixes.get(name[pos:] if pos else name)
            if value is not None:
                return value
            pos = name.find(".", pos) + 1
            if pos == 0:
                return None


class AddressRanges(Generic[V]):
    """CIDR networks -> values; a more specific network wins over one that contains it."""

    def __init__(self, networks: Iterable[tuple[IPv4Network | IPv6Network, V]] = ()):
        by_size: dict[int, list[tuple[int, int, V]]] = {4: [], 16: []}
        for network, value in networks:
            size = 4 if network.version == 4 else 16
            by_size[size].append((int(network.network_address), int(network.broadcast_address), value))
        self._tables = {size: _disjoint(ranges) for size, ranges in by_size.items()}

    def match(self, address: bytes) -> V | None:
        table = self._tables.get(len(address))
        if not table or not table[0]:
            return None
        starts, ends, values = table
        number = int.from_bytes(address, "big")
        i = bisect_right(starts, number) - 1
        if i >= 0 and number <= ends[i]:
            return values[i]
        return None


def _disjoint(ranges: list[tuple[int, int, V]]) -> tuple[list[int], list[int], list[V]]:
    """Nested-or-disjoint ranges (as CIDR networks are) -> disjoint intervals, inner wins."""
    starts: list[int] = []
    ends: list[int] = []
    values: list[V] = []

    def emit(first: int, last: int, value: V) -> None:
        if first <= last:
            starts.append(first)
            ends.append(last)
            values.append(value)

    open_: list[tuple[int, int, V]] = []
    cursor = 0
    for first, last, value in sorted(ranges, key=lambda r: (r[0], -r[1])):
        while open_ and open_[-1][1] < first:
            _, top_last, top_value = open_.pop()
            emit(cursor, top_last, top_value)
            cursor = top_last + 1
        if open_:
            emit(cursor, first - 1, open_[-1][2])
        open_.append((first, last, value))
        cursor = first
    while open_:
        _, top_last, top_value = open_.pop()
        emit(cursor, top_last, top_value)
        cursor = top_last + 1
    return starts, ends, values
