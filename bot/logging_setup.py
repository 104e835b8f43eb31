"""Logging for the bot: ``PEERBOT_LOG_LEVEL``, and the bot token kept out of every record.

The token is part of every Bot API URL (``…/bot<token>/sendMessage``), so httpx's request log,
a network error or ``repr(bot)`` would all print it. Two layers keep it out:
- httpx and httpcore log at WARNING at most (their INFO/DEBUG lines are request URLs);
- a filter redacts the token (and its URL-encoded forms) from each record's message, arguments,
  traceback and stack. It runs in the log-record factory, so it covers every record of every
  logger whichever handler receives it (including test capture), and it is also attached to
  the root handlers.
"""

from __future__ import annotations

import logging
import sys
import threading
from urllib.parse import quote

REDACTED = "[REDACTED-TOKEN]"
_QUIET_LOGGERS = ("httpx", "httpcore")

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


class TokenRedactingFilter(logging.Filter):
    """Rewrites a record so no registered secret survives in it; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_record(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record: redact what can be redacted
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _variants(secret: str) -> set[str]:
    found = {secret, quote(secret, safe=""), quote(secret)}
    _, _, key = secret.partition(":")
    if len(key) >= 16:  # the secret half of a real token (35 characters) on its own
        found.add(key)
    return {v for v in found if v}


def install_token_redaction(*secrets: str | None) -> TokenRedactingFilter:
    """Register secrets to redact from all log records (idempotent; process-wide)."""
    global _installed
    with _lock:
        for secret in secrets:
            if secret:
                _secrets.update(_variants(secret))
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args, **kwargs):
                record = previous(*args, **kwargs)
                redact_record(record)
                return record

            logging.setLogRecordFactory(factory)
            _installed = True
    flt = TokenRedactingFilter()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, TokenRedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt


def quiet_http_loggers() -> None:
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def configure_logging(level: str, token: str | None) -> None:
    """Root handler on stderr at ``level``; HTTP client loggers quiet; the token redacted."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    quiet_http_loggers()
    install_token_redaction(token)


class _RateLimitGaveUp(logging.Filter):
    """PTB's rate limiter logs an ERROR with a traceback when a request still meets 429 after
    its retries; the outbox (bot/outbox.py) then waits out retry_after and sends it again, so it
    is a warning of one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.getMessage().startswith("Rate limit hit after maximum"):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = f"{record.getMessage()}; the outbox sends it again after retry_after", None
            record.exc_info = record.exc_text = None
        return True


def soften_rate_limiter_log() -> None:
    logger = logging.getLogger("telegram.ext.AIORateLimiter")
    if not any(isinstance(f, _RateLimitGaveUp) for f in logger.filters):
        logger.addFilter(_RateLimitGaveUp())
