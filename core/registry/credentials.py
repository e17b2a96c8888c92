"""Credentials for a registry and URIs that never show them.

A :class:`Credentials` value holds a user name with a password, or a bearer token; its
``repr`` and ``str`` hide both secrets, so logging one by mistake prints ``'***'``.
:func:`redact_uri` is what every message, cache file and export uses to name a location:
``http://alice:pw@host`` becomes ``http://alice@host``, and query parameters that look like
secrets (``token=``, ``password=``…) are masked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["Credentials", "redact_uri", "split_credentials", "uri_problem"]

_SECRET_QUERY_KEYS = re.compile(r"(pass|secret|token|key|auth|credential|signature|sig)", re.I)
MASK = "***"


@dataclass(frozen=True)
class Credentials:
    """Basic-auth ``username``/``password`` or a ``token``; the secrets never print."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        parts = [f"username={self.username!r}"]
        if self.password is not None:
            parts.append(f"password={MASK!r}")
        if self.token is not None:
            parts.append(f"token={MASK!r}")
        return f"Credentials({', '.join(parts)})"

    __str__ = __repr__

    @property
    def empty(self) -> bool:
        return not (self.password or self.token)

    @property
    def kind(self) -> str:
        """``"token"``, ``"basic"`` or ``"none"``."""
        if self.token:
            return "token"
        if self.password:
            return "basic"
        return "none"

    def secrets(self) -> tuple[str, ...]:
        """The secret strings, for scrubbing text that might contain them."""
        return tuple(s for s in (self.password, self.token) if s)

    @classmethod
    def from_environment(cls) -> Credentials | None:
        """MLflow's own variables (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``/``TOKEN``)."""
        user = os.environ.get("MLFLOW_TRACKING_USERNAME") or None
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or None
        token = os.environ.get("MLFLOW_TRACKING_TOKEN") or None
        if not (password or token):
            return None
        return cls(username=user, password=password, token=token)


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without password, username, password)`` from a URI's user-info part.

    The user name stays in the returned URI (it is not a secret and says whose account is
    used); only the password is taken out. User name and password come back decoded: a URL
    carries ``@ : / %`` in them percent-encoded (``p%40ss`` is the password ``p@ss``), and
    the server must be sent the password itself.
    """
    clean, user, password = _split_raw(uri)
    return (
        clean,
        None if user is None else unquote(user),
        None if password is None else unquote(password),
    )


def _split_raw(uri: str) -> tuple[str, str | None, str | None]:
    """:func:`split_credentials` with user and password as written in the URI (encoded)."""
    try:
        parts = urlsplit(uri)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host: still keep the password out
        return _split_loose(uri)
    if not parts.scheme or "@" not in parts.netloc:
        return uri, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    netloc = f"{user}@{hostport}" if user else hostport
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (user or None), (password if sep else None)


_LOOSE = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<netloc>[^/?#]*)(?P<rest>.*)$", re.S
)


def _split_loose(uri: str) -> tuple[str, str | None, str | None]:
    """The user-info split off a URI that ``urlsplit`` refuses, by its shape alone."""
    match = _LOOSE.match(uri)
    if match is None or "@" not in match["netloc"]:
        return uri, None, None
    userinfo, _, hostport = match["netloc"].rpartition("@")
    user, sep, password = userinfo.partition(":")
    netloc = f"{user}@{hostport}" if user else hostport
    return match["scheme"] + netloc + match["rest"], (user or None), (password if sep else None)


def uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be a registry's URL, in words (no secret in them), or None.

    Catches what ``urlsplit`` and its ``port`` raise ``ValueError`` for — an unclosed ``[``
    of an IPv6 host, a port that is not a number from 0 to 65535 — and an ``http(s)`` URL
    without a host. A plain folder path is not a URL and has no problem here.
    """
    shown = redact_uri(uri)
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"{shown!r} is not a valid URL: its host has an unclosed '[' (an IPv6 address)"
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        port = parts.netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[2]
        return f"{shown!r} is not a valid URL: port {port!r} is not a number from 0 to 65535"
    if parts.scheme.lower() in ("http", "https") and not parts.hostname:
        return f"{shown!r} is not a valid URL: it names no host"
    return None


def secret_forms(secret: str) -> tuple[str, ...]:
    """``secret`` as it may appear in text: itself, and percent-encoded as in a URL."""
    forms = {secret, quote(secret, safe=""), quote(secret, safe="!$&'()*+,;=~")}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


def strip_userinfo(uri: str) -> str:
    """The URI with no user-info at all (what an HTTP client should be given)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        clean, user, _ = _split_loose(uri)
        return clean.replace(f"{user}@", "", 1) if user else clean
    if not parts.scheme or "@" not in parts.netloc:
        return uri
    hostport = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))


def redact_uri(uri: str | None) -> str:
    """A URI safe to print: no password in the user-info, secret-looking query values masked."""
    if not uri:
        return ""
    clean, _, raw_password = _split_raw(uri)
    try:
        parts = urlsplit(clean)
    except ValueError:  # malformed (see uri_problem): shown without its password only
        parts = urlsplit("")
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(_SECRET_QUERY_KEYS.search(k) for k, _ in pairs):
            masked = [(k, MASK if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs]
            clean = urlunsplit(
                (
                    parts.scheme,
                    parts.netloc,
                    parts.path,
                    urlencode(masked, safe="*"),
                    parts.fragment,
                )
            )
    if raw_password:  # also a password repeated in the path/query, in either spelling
        match = _LOOSE.match(clean)
        # not in the scheme or host: a one-letter password must not mangle "http"
        head, tail = (match["scheme"] + match["netloc"], match["rest"]) if match else ("", clean)
        for form in {raw_password, unquote(raw_password)}:
            if form:
                tail = tail.replace(form, MASK)
        clean = head + tail
    return clean


def scrub(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """``text`` with every secret (and its basic-auth base64 forms) replaced by ``***``."""
    import base64

    for secret in secrets:
        if not secret:
            continue
        for form in secret_forms(secret):
            text = text.replace(form, MASK)
        text = text.replace(base64.b64encode(secret.encode()).decode(), MASK)
    return text
