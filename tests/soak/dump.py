"""The DUMP payload of a module value, read and written without the server, so that the soak
can forge payloads whose checksum is right and whose content is not.

A payload is
    object type (1 byte) | object | RDB version (2 bytes, LE) | CRC64 of all before (8 bytes, LE)
and a module value (type 7, RDB_TYPE_MODULE_2) is
    module id (length-encoded 64-bit: 9 characters of the type name and a 10-bit encoding
    version) | what the module saved, each item an opcode and its value | opcode EOF (0)
The rl module saves one string (opcode 5): its state bytes (states.py). Strings longer than
20 bytes may be LZF-compressed by the server (0xC3 | compressed length | length | data).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RDB_TYPE_MODULE_2 = 7
OPCODE_EOF = 0
OPCODE_SINT = 1
OPCODE_UINT = 2
OPCODE_FLOAT = 3
OPCODE_DOUBLE = 4
OPCODE_STRING = 5
TYPE_NAME = "ratelimit"
# The module's second type, the leases of RL.ACQUIRE (its value is one string too, leases.py).
LEASES_TYPE_NAME = "rl-leases"
ENCODING_VERSION = 1

_POLY = 0xAD93D23594C935A9


def _reflect(value: int, bits: int) -> int:
    out = 0
    for _ in range(bits):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


_REFLECTED_POLY = _reflect(_POLY, 64)
_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ _REFLECTED_POLY if _crc & 1 else _crc >> 1
    _TABLE.append(_crc)


def crc64(data: bytes) -> int:
    """Redis' CRC-64 ("Jones" polynomial, reflected, initial value 0)."""
    crc = 0
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA


def seal(body: bytes, rdb_version: int) -> bytes:
    """A payload from an object (type byte included): version and checksum appended."""
    head = body + struct.pack("<H", rdb_version)
    return head + struct.pack("<Q", crc64(head))


def unseal(payload: bytes) -> tuple[bytes, int]:
    """The object and RDB version of a payload (the checksum is not checked)."""
    return payload[:-10], struct.unpack("<H", payload[-10:-8])[0]


_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def module_id(name: str = TYPE_NAME, encver: int = ENCODING_VERSION) -> int:
    value = 0
    for ch in name:
        value = (value << 6) | _CHARSET.index(ch)
    return (value << 10) | (encver & 1023)


def encode_len(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n])
    if n < 1 << 14:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n <= 0xFFFFFFFF:
        return b"\x80" + struct.pack(">I", n)
    return b"\x81" + struct.pack(">Q", n)


def decode_len(data: bytes, pos: int) -> tuple[int, bool, int]:
    """(value, is_special_encoding, next position)."""
    first = data[pos]
    kind = first >> 6
    if kind == 0:
        return first & 0x3F, False, pos + 1
    if kind == 1:
        return ((first & 0x3F) << 8) | data[pos + 1], False, pos + 2
    if kind == 3:
        return first & 0x3F, True, pos + 1
    if first == 0x80:
        return struct.unpack(">I", data[pos + 1 : pos + 5])[0], False, pos + 5
    if first == 0x81:
        return struct.unpack(">Q", data[pos + 1 : pos + 9])[0], False, pos + 9
    raise ValueError(f"bad length byte {first:#x}")


def lzf_decompress(data: bytes, out_len: int) -> bytes:
    """As strict as the server's lzf_decompress: a run past the input or the output, or a
    reference before the start, is an error."""
    out = bytearray()
    i = 0
    while i < len(data):
        ctrl = data[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > len(data) or len(out) + run > out_len:
                raise ValueError("LZF literal run past the end")
            out += data[i : i + run]
            i += run
        else:
            length = ctrl >> 5
            if length == 7:
                if i >= len(data):
                    raise ValueError("LZF reference past the input")
                length += data[i]
                i += 1
            if i >= len(data):
                raise ValueError("LZF reference past the input")
            ref = len(out) - ((ctrl & 0x1F) << 8) - data[i] - 1
            i += 1
            if ref < 0 or len(out) + length + 2 > out_len:
                raise ValueError("LZF reference out of bounds")
            for _ in range(length + 2):
                out.append(out[ref])
                ref += 1
    if len(out) != out_len:
        raise ValueError("LZF length mismatch")
    return bytes(out)


def read_string(data: bytes, pos: int) -> tuple[bytes, int]:
    n, special, pos = decode_len(data, pos)
    if not special:
        return data[pos : pos + n], pos + n
    if n == 3:  # LZF
        clen, _, pos = decode_len(data, pos)
        ulen, _, pos = decode_len(data, pos)
        return lzf_decompress(data[pos : pos + clen], ulen), pos + clen
    size = {0: 1, 1: 2, 2: 4}[n]
    value = int.from_bytes(data[pos : pos + size], "little", signed=True)
    return str(value).encode(), pos + size


@dataclass(frozen=True)
class ModuleValue:
    """A parsed module value: its id and the state string it carries."""

    module_id: int
    state: bytes
    rdb_version: int


def parse(payload: bytes) -> ModuleValue:
    body, version = unseal(payload)
    if body[0] != RDB_TYPE_MODULE_2:
        raise ValueError(f"object type {body[0]} is not a module value")
    mid, _, pos = decode_len(body, 1)
    opcode, _, pos = decode_len(body, pos)
    if opcode != OPCODE_STRING:
        raise ValueError(f"opcode {opcode} where a string was expected")
    state, pos = read_string(body, pos)
    return ModuleValue(mid, state, version)


def canonical_state(payload: bytes, type_name: str = TYPE_NAME) -> bytes | None:
    """The state bytes of a payload framed exactly as a server writes one (right checksum,
    this module's type and encoding version, one string, the EOF marker, nothing after), or
    None: a payload that carries a state the way an RDB file of the module does."""
    body, _ = unseal(payload)
    if len(payload) < 10 or crc64(payload[:-8]).to_bytes(8, "little") != payload[-8:]:
        return None
    try:
        if body[0] != RDB_TYPE_MODULE_2:
            return None
        mid, _, pos = decode_len(body, 1)
        opcode, _, pos = decode_len(body, pos)
        if mid != module_id(type_name) or opcode != OPCODE_STRING:
            return None
        state, pos = read_string(body, pos)
        return state if body[pos:] == bytes([OPCODE_EOF]) else None
    except (ValueError, IndexError, KeyError, struct.error):
        return None


def build(
    state: bytes,
    rdb_version: int,
    *,
    mid: int | None = None,
    opcode: int = OPCODE_STRING,
    string_len: int | None = None,
    before_eof: bytes = b"",
    eof: bytes = b"\x00",
    object_type: int = RDB_TYPE_MODULE_2,
) -> bytes:
    """A payload carrying `state` uncompressed, with every framing field open to forgery."""
    body = (
        bytes([object_type])
        + encode_len(module_id() if mid is None else mid)
        + encode_len(opcode)
        + encode_len(len(state) if string_len is None else string_len)
        + state
        + before_eof
        + eof
    )
    return seal(body, rdb_version)
