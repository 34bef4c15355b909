"""RFC 8941 Structured Field Values: the subset RFC 9421 needs (dictionaries, inner lists, items,
parameters), parsed per the RFC's algorithms and re-serialized canonically.

`Signature-Input` is a dictionary whose members are inner lists of component names with parameters;
the `@signature-params` line of the signature base is the member re-serialized (RFC 9421 §2.3), so
the serializer must produce exactly what a signer's serializer produces for the same value.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Dict, List, Tuple, Union


class StructuredFieldError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    value: str


BareItem = Union[int, float, str, bytes, bool, Token]
Params = Dict[str, BareItem]
Item = Tuple[BareItem, Params]
InnerList = Tuple[List[Item], Params]
Member = Union[Item, InnerList]

_KEY_START = re.compile(r"[a-z*]")
_KEY_CHAR = re.compile(r"[a-z0-9_\-.*]")
_TOKEN_START = re.compile(r"[A-Za-z*]")
_TOKEN_CHAR = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z:/]")
_B64_CHAR = re.compile(r"[A-Za-z0-9+/=]")


class _Parser:
    def __init__(self, text: str) -> None:
        if not all(0x20 <= ord(c) <= 0x7E or c == "\t" for c in text):
            raise StructuredFieldError("non-ASCII or control character")
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def skip_sp(self) -> None:
        while self.peek() == " ":
            self.i += 1

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t") and self.peek() != "":
            self.i += 1

    def dictionary(self) -> Dict[str, Member]:
        out: Dict[str, Member] = {}
        self.skip_sp()
        while self.i < len(self.s):
            key = self.key()
            if self.peek() == "=":
                self.i += 1
                member = self.item_or_inner_list()
            else:
                member = (True, self.parameters())
            out[key] = member
            self.skip_ows()
            if self.i >= len(self.s):
                return out
            if self.take() != ",":
                raise StructuredFieldError("expected ',' between dictionary members")
            self.skip_ows()
            if self.i >= len(self.s):
                raise StructuredFieldError("trailing comma")
        return out

    def item_or_inner_list(self) -> Member:
        if self.peek() == "(":
            return self.inner_list()
        return (self.bare_item(), self.parameters())

    def inner_list(self) -> InnerList:
        self.i += 1  # "("
        items: List[Item] = []
        while self.i < len(self.s):
            self.skip_sp()
            if self.peek() == ")":
                self.i += 1
                return (items, self.parameters())
            items.append((self.bare_item(), self.parameters()))
            if self.peek() not in (" ", ")"):
                raise StructuredFieldError("inner list items must be separated by a space")
        raise StructuredFieldError("unterminated inner list")

    def parameters(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.i += 1
            self.skip_sp()
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.i += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        if not _KEY_START.fullmatch(self.peek() or "\0"):
            raise StructuredFieldError("key must start with a lower-case letter or '*'")
        start = self.i
        while self.peek() and _KEY_CHAR.fullmatch(self.peek()):
            self.i += 1
        return self.s[start:self.i]

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == "-" or c.isdigit():
            return self.number()
        if c == '"':
            return self.string()
        if c == ":":
            return self.byte_sequence()
        if c == "?":
            return self.boolean()
        if c and _TOKEN_START.fullmatch(c):
            return self.token()
        raise StructuredFieldError("unrecognised item")

    def number(self) -> Union[int, float]:
        sign = 1
        if self.peek() == "-":
            sign = -1
            self.i += 1
        start = self.i
        is_decimal = False
        while self.peek() and (self.peek().isdigit() or (self.peek() == "." and not is_decimal)):
            if self.peek() == ".":
                if self.i - start > 12:
                    raise StructuredFieldError("decimal integer part too long")
                is_decimal = True
            self.i += 1
            if not is_decimal and self.i - start > 15:
                raise StructuredFieldError("integer too long")
        text = self.s[start:self.i]
        if text == "" or text.endswith("."):
            raise StructuredFieldError("malformed number")
        if is_decimal:
            if len(text.split(".")[1]) > 3:
                raise StructuredFieldError("decimal fraction too long")
            return sign * float(text)
        return sign * int(text)

    def string(self) -> str:
        self.i += 1
        out = []
        while self.i < len(self.s):
            c = self.take()
            if c == "\\":
                n = self.take()
                if n not in ('"', "\\"):
                    raise StructuredFieldError("bad escape in string")
                out.append(n)
            elif c == '"':
                return "".join(out)
            else:
                out.append(c)
        raise StructuredFieldError("unterminated string")

    def token(self) -> Token:
        start = self.i
        self.i += 1
        while self.peek() and _TOKEN_CHAR.fullmatch(self.peek()):
            self.i += 1
        return Token(self.s[start:self.i])

    def byte_sequence(self) -> bytes:
        self.i += 1
        end = self.s.find(":", self.i)
        if end < 0:
            raise StructuredFieldError("unterminated byte sequence")
        text = self.s[self.i:end]
        self.i = end + 1
        if not all(_B64_CHAR.fullmatch(c) for c in text):
            raise StructuredFieldError("byte sequence is not base64")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except Exception as err:  # binascii.Error
            raise StructuredFieldError("byte sequence is not base64") from err

    def boolean(self) -> bool:
        self.i += 1
        c = self.take()
        if c == "1":
            return True
        if c == "0":
            return False
        raise StructuredFieldError("boolean must be ?0 or ?1")


def parse_dictionary(text: str) -> Dict[str, Member]:
    parser = _Parser(text)
    result = parser.dictionary()
    parser.skip_sp()
    if parser.i != len(parser.s):
        raise StructuredFieldError("trailing characters")
    return result


def is_inner_list(member: Member) -> bool:
    return isinstance(member[0], list)


def _serialize_bare(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > 999_999_999_999_999:
            raise StructuredFieldError("integer out of range")
        return str(value)
    if isinstance(value, float):
        text = f"{round(value, 3):.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, str):
        if not all(0x20 <= ord(c) <= 0x7E for c in value):
            raise StructuredFieldError("string must be printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Token):
        return value.value
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialize {type(value).__name__}")


def serialize_params(params: Params) -> str:
    return "".join(f";{k}" if v is True else f";{k}={_serialize_bare(v)}" for k, v in params.items())


def serialize_inner_list(member: InnerList) -> str:
    items, params = member
    return "(" + " ".join(_serialize_bare(v) + serialize_params(p) for v, p in items) + ")" + serialize_params(params)
