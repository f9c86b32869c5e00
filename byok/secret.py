"""Secrets in memory: a wrapper whose repr is masked, and a redactor for text and logs.

A plaintext key lives only inside a :class:`Secret`. It prints as ``sk-…a1b2`` in
reprs, f-strings and tracebacks; the one way to read it is :meth:`Secret.reveal`,
called at the moment a header is built.

Every secret the process meets — each key it decrypts, checks or receives in a form
(all of them become a :class:`Secret`), each configured token, secret and master key
(:func:`remember_secret`) — is remembered by :data:`SEEN`, and :func:`redact` masks it
in every form it can take in a line of text: raw, URL-encoded (``+ / =`` as ``%2B %2F
%3D``, even twice), JSON-escaped (``\\u002b``, ``\\/``, even inside a form), and
without its vendor prefix. That is how keys no pattern recognises (an operator endpoint's) are
masked too.
"""

from __future__ import annotations

import logging
import re
import string
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from byok.providers.builtins import BUILTIN_RECORDS

__all__ = [
    "SEEN",
    "RedactingFilter",
    "Secret",
    "SecretRegistry",
    "key_vendor",
    "looks_like_key",
    "mask",
    "redact",
    "remember_secret",
]

# Shapes of platform tokens; provider keys' shapes come from the provider records.
_PLATFORM_TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"xox[abposr]-[0-9A-Za-z\-]{10,}"),
    re.compile(r"xapp-[0-9A-Za-z\-]{10,}"),
    # Discord bot tokens: base64 user id . timestamp . hmac
    re.compile(r"[MNO][A-Za-z\d_\-]{23,25}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,}"),
)
_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    *(re.compile(r.keys.pattern) for r in BUILTIN_RECORDS),
    *_PLATFORM_TOKEN_PATTERNS,
)

_MASK = "[redacted]"

# Prefixes only one provider issues (a bare "sk-" is not one: several use it).
_OWN_PREFIXES = tuple((p, r.provider_id) for r in BUILTIN_RECORDS for p in r.keys.own_prefixes)
# Providers whose keys may share a prefix with others' but always carry a marker inside.
_MARKED = tuple(
    (re.compile(r.keys.prefix), r.keys.marker, r.provider_id)
    for r in BUILTIN_RECORDS
    if r.keys.marker
)

# A vendor's prefix: the rest of a key may be written on its own. The longest that
# matches is the prefix ("sk-ant-api03-", not "sk-").
_KEY_PREFIXES: tuple[re.Pattern[str], ...] = (
    *(re.compile(r.keys.prefix) for r in BUILTIN_RECORDS),
    re.compile(r"xox[abposr]-"),
    re.compile(r"xapp-"),
)
# Shorter strings could be ordinary words; longer ones are documents, not keys.
_MIN_SECRET, _MAX_SECRET = 8, 1024
#: How many secrets :data:`SEEN` remembers, the most recently met first.
REMEMBERED = 512
_WINDOW = 5
_WINDOWS = re.compile(f".{{{_WINDOW}}}", re.DOTALL)  # consecutive, from the first character
_ALNUM = re.compile(r"[A-Za-z0-9]+")
# Characters no encoder changes (JSON may still write "-" or "_" as \\u escapes).
_VERBATIM = frozenset(string.ascii_letters + string.digits)


def mask(value: str) -> str:
    """Show a key as its prefix and last four characters: ``sk-…a1b2``."""
    if len(value) <= 8:
        return "…" + value[-2:] if len(value) > 4 else "…"
    prefix = value.split("-", 1)[0] + "-" if "-" in value[:8] else value[:2]
    return f"{prefix}…{value[-4:]}"


class Secret:
    """A string that never shows itself by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.strip()
        if not any(c.isspace() for c in self._value):  # a key is one word; a document is not
            SEEN.add(self._value)

    def reveal(self) -> str:
        """The plaintext, for building a request header and nothing else."""
        return self._value

    @property
    def last4(self) -> str:
        return self._value[-4:]

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.masked})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Secret values cannot be pickled")


def looks_like_key(text: str) -> bool:
    """True when the text holds something shaped like a provider key or platform token."""
    return any(p.search(text) for p in _SECRET_PATTERNS)


def key_vendor(key: Secret) -> tuple[str, str] | None:
    """(provider id, prefix) when the key's prefix is one only that provider issues."""
    value = key.reveal()
    found = next(((pid, p) for p, pid in _OWN_PREFIXES if value.startswith(p)), None)
    if found is not None:
        return found
    for prefix, marker, provider_id in _MARKED:  # e.g. a legacy OpenAI key: a bare "sk-"
        shared = prefix.match(value)
        if shared and marker in value:
            return provider_id, shared.group()
    return None


def _hex(code: int) -> str:
    """Two hex digits matching either case: ``2[Bb]``."""
    return "".join(d if d.isdigit() else f"[{d.upper()}{d.lower()}]" for d in f"{code:02x}")


def _encoded(char: str) -> str:
    """A pattern for one character of a secret, in every encoding a log line may hold."""
    if char in _VERBATIM:
        return re.escape(char)
    code = ord(char)
    if code > 0x7F:
        return f"(?:{re.escape(char)}|\\\\u{_hex(code >> 8)}{_hex(code & 0xFF)})"
    backslash = r"(?:\\|%5[Cc])+"  # JSON's escape, itself escaped or URL-encoded or not
    forms = [re.escape(char), f"%(?:25)?{_hex(code)}", f"{backslash}u00{_hex(code)}"]
    if char == "/":
        forms.append(f"{backslash}(?:/|%2[Ff])")
    return f"(?:{'|'.join(forms)})"


def _spelled(form: str) -> str:
    return "".join(_encoded(char) for char in form)


def _forms(value: str) -> Iterator[str]:
    """What to look for in text for one secret: itself, then without its vendor prefix."""
    yield value
    end = max((m.end() for p in _KEY_PREFIXES if (m := p.match(value))), default=0)
    if end and len(value) - end >= _MIN_SECRET:
        yield value[end:]


class _Remembered:
    """One secret: its forms, the windows that find it, and its pattern once needed."""

    def __init__(self, value: str) -> None:
        self.forms = tuple(_forms(value))
        # Letters and digits survive every encoding; a run long enough always holds one
        # whole window of the text's sampling, wherever the run sits in the text.
        runs = [[r for r in _ALNUM.findall(f) if len(r) >= 2 * _WINDOW - 1] for f in self.forms]
        self.windows = {
            r[i : i + _WINDOW] for rs in runs for r in rs for i in range(len(r) - _WINDOW + 1)
        }
        self.unfindable = not all(runs)  # a form without such a run: try it on every text
        self._pattern: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            self._pattern = re.compile("|".join(_spelled(f) for f in self.forms))
        return self._pattern


class SecretRegistry:
    """The secrets met lately, masked by :meth:`redact` in all their forms.

    At most ``capacity`` secrets, the least recently met forgotten first. Finding them
    costs about the same however many there are: the text is cut into windows of
    ``_WINDOW`` characters, one dictionary look-up per window tells which secrets may be
    in it, and only their patterns run.
    """

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self._capacity = capacity
        self._secrets: OrderedDict[str, _Remembered] = OrderedDict()
        self._by_window: dict[str, tuple[str, ...]] = {}  # tuples: most hold one secret
        self._unfindable: set[str] = set()  # no long run of letters and digits: always tried
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        """Remember ``value`` (too short or too long to be a key: ignored)."""
        if not _MIN_SECRET <= len(value) <= _MAX_SECRET:
            return
        with self._lock:
            if value in self._secrets:
                self._secrets.move_to_end(value)
                return
            self._secrets[value] = entry = _Remembered(value)
            for window in entry.windows:
                self._by_window[window] = (*self._by_window.get(window, ()), value)
            if entry.unfindable:
                self._unfindable.add(value)
            if len(self._secrets) > self._capacity:
                self._forget(*self._secrets.popitem(last=False))

    def _forget(self, value: str, entry: _Remembered) -> None:
        for window in entry.windows:
            holders = tuple(v for v in self._by_window[window] if v != value)
            if holders:
                self._by_window[window] = holders
            else:
                del self._by_window[window]
        self._unfindable.discard(value)

    def __len__(self) -> int:
        return len(self._secrets)

    def redact(self, text: str) -> str:
        if not self._secrets:
            return text
        with self._lock:
            by_window = self._by_window
            found = [by_window[w] for w in _WINDOWS.findall(text) if w in by_window]
            entries = [self._secrets[v] for v in self._unfindable.union(*found)]
        for entry in entries:
            text = entry.pattern.sub(_MASK, text)
        return text


#: The secrets this process has met.
SEEN = SecretRegistry()


def remember_secret(value: str) -> None:
    """Mask ``value`` from now on wherever :func:`redact` runs (configured tokens and the
    like; every :class:`Secret` is remembered already)."""
    SEEN.add(value)


def redact(text: str) -> str:
    """Mask every secret met so far, in any encoding, and every key-shaped string."""
    return _mask_key_shapes(SEEN.redact(text))


def _mask_key_shapes(text: str) -> str:
    """Mask every stretch any key shape matches; where matches overlap (``sk-xai-…``, one
    key glued to another's prefix), their union, so the order of the shapes is no matter."""
    spans = sorted(m.span() for p in _SECRET_PATTERNS for m in p.finditer(text))
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start < end:
            end = max(end, next_end)
            continue
        parts += (text[done:start], _MASK)
        done, start, end = end, next_start, next_end
    parts += (text[done:start], _MASK, text[end:])
    return "".join(parts)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and exception text.

    Literal secrets (the master key, configured tokens) are remembered with
    :func:`remember_secret`; key-shaped strings are caught by pattern.
    """

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        for literal in literals:
            remember_secret(literal)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so formatters reuse the clean text.
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
