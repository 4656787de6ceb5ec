"""Secrets out of everything orch shows or logs: agent output before it is stored or published, and log records.

A secret is replaced by a marker that keeps a short prefix saying what it was, never any of the secret itself:
`sk-ant-[REDACTED]`, `ghp_[REDACTED]`, `Authorization: Bearer [REDACTED]`, `https://user:***@host`,
`[REDACTED PRIVATE KEY]`. Markers are never matched again, so redacting twice changes nothing.

Output is redacted line by line, and lines come whole: the capture's line assembler only emits finished lines,
so a token split across two reads of the pane is one line here. The one secret that spans lines, a PEM
private key, is why `redact_lines` keeps state: use one Redactor per task stream. Its BEGIN line becomes a
marker, and its body and END line are dropped, so the result may have fewer lines than the input (possibly
none). A body must look like one (base64 or `Header: value` lines, at most _MAX_PEM_LINES of them); any other
line ends the swallowing, so a stray BEGIN line in some output cannot hide the rest of a stream.

`redact.patterns` from the config are extra regular expressions: the whole match is replaced by `[REDACTED]`,
or only the group named `secret` when the pattern has one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence

MARK = "[REDACTED]"
KEY_MARK = "[REDACTED PRIVATE KEY]"
_MAX_PEM_LINES = 200  # a 16384-bit RSA key is ~190 base64 lines

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_PEM_BLOCK = re.compile(_PEM_BEGIN.pattern + r".*?(?:" + _PEM_END.pattern + r"|\Z)", re.DOTALL)
# A body line, also when indented, quoted, commented or in a diff.
_PEM_BODY = re.compile(
    r"""^[\s+\-"'>|#*]*(?:[A-Za-z0-9+/=]+|(?:Proc-Type|DEK-Info|Version|Comment|Hash):.*)?[\s"',;\\n]*$""")

# Cheap test run before the rules: most output contains none of these (lower-cased) substrings and skips every
# rule. Plain substring search is ~10x faster than one case-insensitive alternation over the same text.
_TRIGGERS = ("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xox", "akia", "asia", "://", "bearer",
             "authoriz", "api-key", "api_key", "apikey", "secret", "passw", "_key", "token", "_pass", "_pwd", ":aa")


def _may_hold_secret(text: str) -> bool:
    lowered = text.lower()
    return any(trigger in lowered for trigger in _TRIGGERS)


_Replace = Callable[[re.Match[str]], str]


def _keep(group: int | str, tail: str = MARK) -> _Replace:
    """Keep a group (the non-secret part) and put the marker after it."""
    return lambda match: match.group(group) + tail


def _assigned(match: re.Match[str]) -> str:
    quote = match.group("quote") or ""
    return f"{match.group('name')}{quote}{MARK}{quote}"


# The value of `name = value`: quoted, or unquoted with a digit in it, because in code a bare value is usually
# an expression (`api_key = config.api_key`) that must stay readable in a diff.
_VALUE = r"""(?:(?P<quote>["'])(?!\[REDACTED)[^"'\s]{4,}(?P=quote)|(?![$\[])(?=[^\s"',;]*\d)[^\s"',;()\[\]]{6,})"""

# Order matters where rules overlap: headers and assignments first, so `Authorization: Bearer ghp_…` becomes
# one marker, then the shapes of known tokens wherever they appear.
_RULES: list[tuple[re.Pattern[str], _Replace]] = [
    # scheme://user:PASSWORD@host (up to the last @ before the path); the user name stays, it says which account.
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^\s/:@]*:)[^\s/]+(@)"), lambda m: f"{m.group(1)}***{m.group(2)}"),
    (re.compile(r"\b(Authorization[\"']?\s*[:=]\s*[\"']?(?:(?:Bearer|Basic|Token|Bot|Digest)\s+)?+)[^\s\"',;\[]+",
                re.IGNORECASE), _keep(1)),
    (re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE), _keep(1)),
    (re.compile(r"\b(aws_secret_access_key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{16,}", re.IGNORECASE), _keep(1)),
    # NAME_TOKEN=…, x-api-key: …, password=…: environment dumps, .env files, headers, configs.
    (re.compile(r"\b(?P<name>(?:[A-Z][A-Z0-9_]*(?:_KEY|_TOKEN|_SECRET|PASSWORD|_PASS|_PWD)"
                r"|(?i:x-api-key|api[_-]?key|password|passwd|secret))[\"']?\s*[:=]\s*)" + _VALUE), _assigned),
    (re.compile(r"(?<![A-Za-z0-9])(sk-ant-)[A-Za-z0-9_\-]{8,}"), _keep(1)),
    (re.compile(r"(?<![A-Za-z0-9])(sk-)(?!ant-)[A-Za-z0-9_\-]{20,}"), _keep(1)),
    (re.compile(r"(?<![A-Za-z0-9])(gh[pousr]_)[A-Za-z0-9]{20,}"), _keep(1)),
    (re.compile(r"(?<![A-Za-z0-9])(github_pat_)[A-Za-z0-9_]{20,}"), _keep(1)),
    (re.compile(r"(?<![A-Za-z0-9])(xox[abeprs]-)[A-Za-z0-9\-]{10,}"), _keep(1)),
    (re.compile(r"(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])"), lambda m: m.group(1)[:4] + MARK),
    # Telegram bot token: the bot id is public (it is the bot's user id), the part after the colon is not.
    (re.compile(r"(?<![0-9])([0-9]{6,12}:)AA[A-Za-z0-9_\-]{30,}"), _keep(1)),
]


def _extra_rule(pattern: str) -> tuple[re.Pattern[str], _Replace]:
    compiled = re.compile(pattern)
    if "secret" not in compiled.groupindex:
        return compiled, lambda match: MARK

    def replace(match: re.Match[str]) -> str:
        start, end = match.span("secret")
        if start < 0:
            return match.group()
        whole = match.group()
        base = match.start()
        return whole[: start - base] + MARK + whole[end - base:]

    return compiled, replace


class Redactor:
    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._extra = [_extra_rule(pattern) for pattern in extra_patterns]
        self._in_key = False
        self._key_lines = 0

    def redact_text(self, text: str) -> str:
        """A copy of `text` (any number of lines) with every secret replaced; keeps no state."""
        if "PRIVATE KEY" in text:
            text = _PEM_BLOCK.sub(KEY_MARK, text)
        if _may_hold_secret(text):
            for pattern, replace in _RULES:
                text = pattern.sub(replace, text)
        for pattern, replace in self._extra:
            text = pattern.sub(replace, text)
        return text

    def redact_lines(self, lines: Sequence[str]) -> list[str]:
        """The next lines of one stream, redacted; a private key is removed across calls (see module doc)."""
        if not self._in_key:
            # Output is mostly harmless: one scan of the whole batch instead of one per line.
            joined = "\n".join(lines)
            if "PRIVATE KEY" not in joined and not _may_hold_secret(joined) and \
                    not any(pattern.search(joined) for pattern, _ in self._extra):
                return list(lines)
        out: list[str] = []
        for line in lines:
            if self._in_key:
                end = _PEM_END.search(line)
                if end is not None:
                    self._in_key = False
                    rest = line[end.end():]
                    if rest.strip():
                        out.append(self.redact_text(rest))
                    continue
                if self._key_lines < _MAX_PEM_LINES and _PEM_BODY.match(line):
                    self._key_lines += 1
                    continue
                self._in_key = False
            begin = _PEM_BEGIN.search(line)
            if begin is not None and _PEM_END.search(line, begin.end()) is None:
                self._in_key = True
                self._key_lines = 0
                out.append(self.redact_text(line[: begin.start()]) + KEY_MARK)
                continue
            out.append(self.redact_text(line))
        return out


class RedactingFilter(logging.Filter):
    """Redacts log records: the formatted message, and the traceback text (exception messages carry URLs).

    Besides the shapes of secrets it knows, it replaces literal ones it is given: a chat transport hands it
    its bot token (`add_secret`), which appears whole in the request URLs some libraries log.

    Put it on handlers (orch serve's file and stderr handlers), which see every record that reaches them, and
    `install` it on the loggers of a library that logs secrets, so that whichever handler a record reaches (a
    test's, or one a user added) gets it redacted: a logger's filter sees only records logged on that very
    logger, not those propagated from its children.
    """

    def __init__(self, redactor: Redactor | None = None, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redactor = redactor or Redactor()
        self._secrets: list[str] = []
        self._formatter = logging.Formatter()
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)

    def install(self, *names: str) -> None:
        """Filter every record logged on the named loggers and on their descendants that exist now."""
        for logger in _family(names):
            logger.addFilter(self)

    def uninstall(self, *names: str) -> None:
        for logger in _family(names):
            logger.removeFilter(self)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MARK)
        return self._redactor.redact_text(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is logging's error to report, with the record as it is
            return True
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _family(names: Iterable[str]) -> list[logging.Logger]:
    """The named loggers and every existing logger below them (filters are not inherited by children)."""
    roots = tuple(names)
    existing = [name for name in logging.Logger.manager.loggerDict
                if any(name.startswith(f"{root}.") for root in roots)]
    return [logging.getLogger(name) for name in dict.fromkeys([*roots, *existing])]
