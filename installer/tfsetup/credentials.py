"""Index credentials: kept out of everything tfsetup shows, records or puts on a command line.

A URL's userinfo (`https://user:secret@host/simple`) is a secret. tfsetup
- shows every URL redacted (`https://user:****@host/simple`), and output.py redacts whatever it prints;
- passes credentialed index URLs to the engines in their environment (UV_INDEX_URL, PIP_INDEX_URL ...),
  never on the argv, which every user of the machine can read in `ps`;
- sends them to an index itself (wheelhouse) as an Authorization header, or from ~/.netrc;
- digests URLs without userinfo (a rotated password does not make a team lock stale);
- refuses a password written into a committed file: write `${TFSETUP_INDEX_PASSWORD}` (any variable
  name) there and set the variable.
"""
from __future__ import annotations

import base64
import os
import re
import urllib.parse
from typing import Dict, List, Optional, Sequence, Tuple

from tfsetup.errors import BadInput

PASSWORD_VAR = "TFSETUP_INDEX_PASSWORD"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/\s:@]*)(?::(?P<pw>[^/\s@]*))?@")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def split(url: str) -> Tuple[str, Optional[str], Optional[str]]:
    """(the URL without userinfo, user, password); user/password unquoted, None when absent."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return (clean, urllib.parse.unquote(user) or None,
            urllib.parse.unquote(password) if ":" in userinfo else None)


def strip(url: str) -> str:
    return split(url)[0]


def has_secret(url: str) -> bool:
    return split(url)[1] is not None or split(url)[2] is not None


def _redact_match(match: "re.Match[str]") -> str:
    if match.group("pw") is None:  # a token as the user name (`https://TOKEN@host`)
        return f"{match.group('scheme')}****@"
    return f"{match.group('scheme')}{match.group('user')}:****@"


def redact(text: str) -> str:
    """Every URL in `text` with its password (or user-only token) replaced by ****."""
    return _USERINFO.sub(_redact_match, text) if "@" in text else text


def expand(url: str, where: str) -> str:
    """`${NAME}` replaced by the environment variable NAME (a missing one is an error naming it)."""
    def one(match: "re.Match[str]") -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise BadInput(f"{where}: the environment variable {match.group(1)} is not set",
                           fix=f"export {match.group(1)}=<the index password or token> before running tfsetup")
        return urllib.parse.quote(value, safe="")
    return _VAR.sub(one, url)


def refuse_literal_secret(url: str, where: str) -> None:
    """A password in a file meant to be committed is refused; `${VAR}` references are fine."""
    _, user, password = split(url)
    literal = password if password is not None else None
    if literal and not _VAR.fullmatch(literal):
        raise BadInput(f"{where}: the URL {redact(url)} holds a password; committed files must not",
                       fix=f"write it as https://{user or 'USER'}:${{{PASSWORD_VAR}}}@host/... and set "
                           f"{PASSWORD_VAR} in the environment (or use ~/.netrc)")


def engine_env(index_url: Optional[str], extra_urls: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
    """(argv, env) for an engine's index options: URLs with credentials travel in the environment
    (uv and pip both read UV_/PIP_INDEX_URL and the space-separated *_EXTRA_INDEX_URL; an option on
    the argv would override them, so a list with any credentials goes whole into the environment)."""
    argv: List[str] = []
    env: Dict[str, str] = {}
    if index_url:
        if has_secret(index_url):
            env.update(UV_INDEX_URL=index_url, PIP_INDEX_URL=index_url)
        else:
            argv += ["--index-url", index_url]
    if any(has_secret(u) for u in extra_urls):
        joined = " ".join(extra_urls)
        env.update(UV_EXTRA_INDEX_URL=joined, PIP_EXTRA_INDEX_URL=joined)
    else:
        for extra in extra_urls:
            argv += ["--extra-index-url", extra]
    return argv, env


def request_auth(url: str, index_url: Optional[str] = None) -> Tuple[str, Dict[str, str]]:
    """(the URL to fetch, headers): basic auth from the URL's userinfo, else from `index_url`'s when
    the host is the same (a file link on the index's own server), else from ~/.netrc."""
    clean, user, password = split(url)
    host = urllib.parse.urlsplit(clean).hostname or ""
    if user is None and password is None and index_url:
        index_clean, index_user, index_pw = split(index_url)
        if urllib.parse.urlsplit(index_clean).netloc == urllib.parse.urlsplit(clean).netloc:
            user, password = index_user, index_pw
    if user is None and password is None and host:
        try:
            import netrc

            found = netrc.netrc().authenticators(host)
        except (OSError, netrc.NetrcParseError):
            found = None
        if found:
            user, password = found[0], found[2]
    headers = {}
    if user is not None or password is not None:
        token = base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return clean, headers
