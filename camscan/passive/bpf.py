"""The live-capture kernel filter, assembled here as classic BPF for Ethernet frames.

Keeping only what passive mode reads (ARP, the discovery/DHCP/DNS UDP ports, the TCP ports
whose answers are read, and every SYN for the address/MAC bindings) in the kernel means the
Python side never sees a busy link's bulk traffic. It is assembled by hand because compiling a
pcap filter expression needs libpcap, which many machines lack.

    accept  ARP
    accept  IPv4 UDP, unfragmented or first fragment, source or destination port in udp_ports
    accept  IPv4 UDP, a later fragment (it has no ports; the fast path reassembles)
    accept  IPv4 TCP, first fragment, source or destination port in tcp_ports, or SYN set
    accept  IPv6 UDP and TCP right after the IPv6 header: the same ports, or SYN set
    accept  IPv6 UDP fragments (fragment header right after the IPv6 header): later ones,
            and first ones to the same ports
    accept  ICMPv6 router and neighbor solicitations and advertisements (IPv6's ARP)

Classic BPF cannot walk a chain of IPv6 extension headers; packets with hop-by-hop, routing
or destination options before UDP/TCP are dropped here (discovery traffic carries none).
The port checks are shared by both families: X holds the offset of the transport header
past the Ethernet header (the IPv4 header length, or 40).
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterable

SO_ATTACH_FILTER = 26
SNAP = 0x40000

# opcodes (linux/filter.h)
LDH_ABS, LDB_ABS, LDH_IND, LDB_IND, LDXB_MSH, LDX_IMM = 0x28, 0x30, 0x48, 0x50, 0xB1, 0x01
JA, JEQ_K, JSET_K, RET_K = 0x05, 0x15, 0x45, 0x06

Insn = tuple[int, int, int, int]  # code, jt, jf, k


class _Asm:
    """A tiny assembler: jumps name labels, resolved to relative offsets at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | None, str | None, int]] = []
        self.labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def op(self, code: int, k: int = 0, jt: str | None = None, jf: str | None = None) -> None:
        self.code.append((code, jt, jf, k))

    def jump(self, label: str) -> None:
        """An unconditional jump (its offset is k, not limited to 255)."""
        self.code.append((JA, label, None, 0))

    def build(self) -> list[Insn]:
        out = []
        for i, (code, jt, jf, k) in enumerate(self.code):
            t = self.labels[jt] - i - 1 if jt else 0
            f = self.labels[jf] - i - 1 if jf else 0
            if code == JA:
                t, k = 0, t
            if not (0 <= t <= 255 and 0 <= f <= 255 and k >= 0):
                raise ValueError("BPF jump out of range")
            out.append((code, t, f, k))
        return out


def ethernet_program(udp_ports: Iterable[int], tcp_ports: Iterable[int]) -> list[Insn]:
    udp, tcp = sorted(set(udp_ports)), sorted(set(tcp_ports))
    a = _Asm()
    a.op(LDH_ABS, 12)
    a.op(JEQ_K, 0x0806, "accept", None)
    a.op(JEQ_K, 0x86DD, "ipv6", None)
    a.op(JEQ_K, 0x0800, None, "reject")
    a.op(LDB_ABS, 23)
    a.op(JEQ_K, 17, None, "tcp4")
    a.op(LDH_ABS, 20)
    a.op(JSET_K, 0x1FFF, "accept", None)  # a later UDP fragment: no ports to look at
    a.op(LDXB_MSH, 14)  # X = IPv4 header length
    a.jump("udp")
    a.label("tcp4")
    a.op(JEQ_K, 6, None, "reject")
    a.op(LDH_ABS, 20)
    a.op(JSET_K, 0x1FFF, "reject", None)  # TCP fragments are not read
    a.op(LDXB_MSH, 14)
    a.jump("tcp")
    a.label("ipv6")
    a.op(LDX_IMM, 40)
    a.op(LDB_ABS, 20)  # next header
    a.op(JEQ_K, 17, "udp", None)
    a.op(JEQ_K, 6, "tcp", None)
    a.op(JEQ_K, 44, None, "icmp6")
    a.op(LDB_ABS, 54)  # the fragment header's next header
    a.op(JEQ_K, 17, None, "reject")
    a.op(LDH_ABS, 56)
    a.op(JSET_K, 0xFFF8, "accept", None)  # a later UDP fragment
    a.op(LDX_IMM, 48)  # the first: its UDP header follows the fragment header
    a.jump("udp")
    a.label("icmp6")
    a.op(JEQ_K, 58, None, "reject")
    a.op(LDB_ABS, 54)  # ICMPv6 type
    for kind in (133, 134, 135):
        a.op(JEQ_K, kind, "accept", None)
    a.op(JEQ_K, 136, "accept", "reject")
    for proto, ports in (("udp", udp), ("tcp", tcp)):
        a.label(proto)
        for offset in (14, 16):  # source port, destination port
            a.op(LDH_IND, offset)
            for port in ports:
                a.op(JEQ_K, port, "accept", None)
        if proto == "tcp":
            a.op(LDB_IND, 27)  # TCP flags
            a.op(JSET_K, 0x02, "accept", "reject")
        else:
            a.op(RET_K, 0)
    a.label("accept")
    a.op(RET_K, SNAP)
    a.label("reject")
    a.op(RET_K, 0)
    return a.build()


def run_program(program: list[Insn], packet: bytes) -> int:
    """Interpret the program on a packet the way the kernel does (used by the tests)."""
    acc = x = pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code in (LDH_ABS, LDH_IND, LDB_ABS, LDB_IND):
            at = k + (x if code in (LDH_IND, LDB_IND) else 0)
            size = 2 if code in (LDH_ABS, LDH_IND) else 1
            if at + size > len(packet):
                return 0  # out of bounds: the kernel drops the packet
            acc = int.from_bytes(packet[at : at + size], "big")
        elif code == LDXB_MSH:
            if k >= len(packet):
                return 0
            x = (packet[k] & 0x0F) * 4
        elif code == LDX_IMM:
            x = k
        elif code == JA:
            pc += k
        elif code == JEQ_K:
            pc += jt if acc == k else jf
        elif code == JSET_K:
            pc += jt if acc & k else jf
        elif code == RET_K:
            return k
        else:
            raise ValueError(f"opcode {code:#x} not interpreted")


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


def attach(sock: socket.socket, program: list[Insn]) -> None:
    """Attach the program to a packet socket (SO_ATTACH_FILTER)."""
    insns = (_SockFilter * len(program))(*(_SockFilter(c, t, f, k) for c, t, f, k in program))
    fprog = struct.pack("HL", len(program), ctypes.addressof(insns))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
