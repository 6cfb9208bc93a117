"""An incremental JSON parser: the object a reply describes, as far as it has arrived.

`PartialJSON.feed(chunk)` reads only the new characters and grows the object in place, so
a reply of n characters costs O(n) in all, however many deltas it comes in (re-parsing the
whole prefix on every delta, as `jiter`'s partial mode would be used, costs O(n²)). A string
still arriving shows what it has so far; a number or literal shows once it is complete.
Text before the first `{` or `[` (a sentence, a ```json fence) and after the root value
closes is skipped. The parser is lenient; the finished text is checked by `json.loads`.
A container that opens and closes within one chunk (a burst's deltas fed together) is read
whole by the json module's C scanner; one still open at the chunk's end, or not strict
JSON, is read character by character (its failed try reads the rest of that chunk once).
"""

from __future__ import annotations

import json
import re
from typing import Any

_OUTSIDE, _STRING, _ESCAPE, _UNICODE, _ATOM = range(5)

_STRING_RUN = re.compile(r'[^"\\]+')
_SPACE_RUN = re.compile(r"[ \t\r\n:,]+")
_ATOM_RUN = re.compile(r"[-+0-9.eEa-z]+")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r",
            "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}
_CLOSER = {"{": "}", "[": "]"}
# The json module's C scanner: one complete value at an offset, or an error if it is not
# complete (or not strict JSON) there.
_scan_value = json.JSONDecoder().scan_once


class PartialJSON:
    """Feed it text; `value` is the object so far (the same object, growing in place)."""

    __slots__ = ("value", "started", "done", "start", "end", "_seen", "_state", "_stack",
                 "_keys", "_piece", "_is_key", "_hex", "_surrogate", "_atom", "_slot")

    def __init__(self) -> None:
        self.value: Any = None
        self.started = False  # the root value has begun
        self.done = False  # the root value has closed
        self.start = -1  # offsets of the root value in all the text fed
        self.end = -1
        self._seen = 0
        self._state = _OUTSIDE
        self._stack: list[Any] = []  # open containers, innermost last
        self._keys: list[Any] = []  # per open dict: the key its next value goes to
        self._piece: list[str] = []  # the string being read
        self._is_key = False
        self._hex = ""
        self._surrogate = ""
        self._atom = ""
        self._slot: Any = None  # (container, key or index) of the string value arriving

    def feed(self, chunk: str) -> bool:
        """Read `chunk`; True when the object changed (it is worth showing again)."""
        if self._state == _STRING and chunk and '"' not in chunk and "\\" not in chunk:
            # The common case: more of a string (a word of a title or a summary).
            self._seen += len(chunk)
            piece = self._piece
            if self._is_key:
                piece.append(chunk)
                return False
            if piece:
                text = piece[0] = piece[0] + chunk
            else:
                text = chunk
                piece.append(text)
            slot = self._slot  # _fill_string, inline on the per-delta path
            if slot is None:
                self.value = text
            else:
                slot[0][slot[1]] = text
            return True
        if self.done or not chunk:
            self._seen += len(chunk)
            return False
        i, n = 0, len(chunk)
        if not self.started:
            found = [p for p in (chunk.find("{"), chunk.find("[")) if p >= 0]
            if not found:
                self._seen += n
                return False
            i = min(found)
            self.started = True
            self.start = self._seen + i
        changed = False
        scan = True  # try the C scanner on containers (off once nesting beat its recursion)
        stack = self._stack
        while i < n:
            state = self._state
            if state == _STRING:
                match = _STRING_RUN.match(chunk, i)
                if match is not None:
                    self._piece.append(match.group())
                    i = match.end()
                    continue
                i += 1
                if chunk[i - 1] == "\\":
                    self._state = _ESCAPE
                else:  # the closing quote
                    self._state = _OUTSIDE
                    text = "".join(self._piece)
                    if self._is_key:
                        self._keys[-1] = text
                    else:
                        self._fill_string(text, final=True)
                        changed = True
                continue
            if state == _ESCAPE:
                char = chunk[i]
                i += 1
                if char == "u":
                    self._state, self._hex = _UNICODE, ""
                else:
                    self._piece.append(_ESCAPES.get(char, char))
                    self._state = _STRING
                continue
            if state == _UNICODE:
                take = chunk[i:i + 4 - len(self._hex)]
                i += len(take)
                self._hex += take
                if len(self._hex) == 4:
                    self._unicode(self._hex)
                    self._state = _STRING
                continue
            if state == _ATOM:
                match = _ATOM_RUN.match(chunk, i)
                if match is not None:
                    self._atom += match.group()
                    i = match.end()
                    if i == n:
                        break  # it may go on in the next chunk
                self._state = _OUTSIDE
                self._attach(_atom_value(self._atom))
                changed = True
                continue
            # Between values.
            match = _SPACE_RUN.match(chunk, i)
            if match is not None:
                i = match.end()
                continue
            char = chunk[i]
            i += 1
            if char == "{" or char == "[":
                if scan and chunk.find(_CLOSER[char], i) >= 0:
                    # It may close within this chunk (a burst's deltas are fed together):
                    # then C reads it whole. Only containers still open at the chunk's end
                    # (or not strict JSON) fail here, and are read below as they arrive.
                    try:
                        value, end = _scan_value(chunk, i - 1)
                    except (ValueError, StopIteration):
                        pass
                    except RecursionError:  # nested too deep for it; this loop has no limit
                        scan = False
                    else:
                        self._attach(value)
                        changed = True
                        i = end
                        if not stack:
                            self.done = True
                            self.end = self._seen + i
                            break
                        continue
                container: Any = {} if char == "{" else []
                self._attach(container)
                stack.append(container)
                self._keys.append(None)
                changed = True
            elif char == "}" or char == "]":
                if stack:
                    stack.pop()
                    self._keys.pop()
                if not stack:
                    self.done = True
                    self.end = self._seen + i
                    break
            elif char == '"':
                top = stack[-1] if stack else None
                self._is_key = type(top) is dict and self._keys[-1] is None
                self._piece = []
                self._state = _STRING
                if not self._is_key:
                    self._begin_string()
            else:
                self._state = _ATOM
                self._atom = char
        if self._state in (_STRING, _ESCAPE, _UNICODE) and not self._is_key and self._piece:
            self._piece = ["".join(self._piece)]
            self._fill_string(self._piece[0], final=False)  # the string so far
            changed = True
        self._seen += n
        return changed

    # -- building the object -------------------------------------------------------------

    def _attach(self, value: Any) -> None:
        """A complete value, or a container that will fill in: put it where it goes."""
        stack = self._stack
        if not stack:
            self.value = value
        elif type(stack[-1]) is list:
            stack[-1].append(value)
        else:
            stack[-1][self._keys[-1]] = value
            self._keys[-1] = None  # the next string in this dict is a key

    def _begin_string(self) -> None:
        """A string value starts: it shows as "" and grows in its slot."""
        stack = self._stack
        if not stack:
            self._slot = None
            self.value = ""
        elif type(stack[-1]) is list:
            stack[-1].append("")
            self._slot = (stack[-1], len(stack[-1]) - 1)
        else:
            self._slot = (stack[-1], self._keys[-1])
            stack[-1][self._keys[-1]] = ""

    def _fill_string(self, text: str, *, final: bool) -> None:
        slot = self._slot
        if slot is None:
            self.value = text
        else:
            slot[0][slot[1]] = text
            if final and type(slot[0]) is dict:
                self._keys[-1] = None

    def _unicode(self, digits: str) -> None:
        try:
            code = int(digits, 16)
        except ValueError:
            return
        if 0xD800 <= code < 0xDC00:
            self._surrogate = digits
            return
        if 0xDC00 <= code < 0xE000 and self._surrogate:
            high = int(self._surrogate, 16)
            self._surrogate = ""
            code = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)
        self._piece.append(chr(code))


def _atom_value(text: str) -> Any:
    if text in _LITERALS:
        return _LITERALS[text]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # not JSON: json.loads on the finished text says so
