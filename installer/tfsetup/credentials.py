"""Index credentials: kept out of everything tfsetup shows, records or puts on a command line.

A URL's userinfo (`https://user:secret@host/simple`) is a secret. tfsetup
- shows every URL redacted (`https://user:****@host/simple`), and output.py redacts whatever it prints;
- passes credentialed index and find-links URLs to the engines in their environment (UV_INDEX_URL,
  UV_FIND_LINKS, PIP_INDEX_URL, PIP_FIND_LINKS ...), never on the argv, which every user of the machine
  can read in `ps` (an engine's environment is readable only by you and root); `refuse_secret_argv`
  stops any command line that would still carry one, at the one place engines are started;
- sends them to an index itself (wheelhouse) as an Authorization header, or from ~/.netrc;
- digests URLs without userinfo (a rotated password does not make a team lock stale);
- refuses a password, or a token written as the user name, in a committed file: write
  `${TFSETUP_INDEX_PASSWORD}` (any variable name) there and set the variable.
"""
from __future__ import annotations

import base64
import netrc
import os
import re
import urllib.parse
from typing import Dict, List, Optional, Sequence, Tuple

from tfsetup.errors import BadInput

PASSWORD_VAR = "TFSETUP_INDEX_PASSWORD"
TOKEN_VAR = "TFSETUP_INDEX_TOKEN"
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
    if _VAR.fullmatch(match.group("pw") or match.group("user") or ""):  # `${VAR}`: a name, not a secret
        return match.group(0)  # (so a fix that says "write https://alice:${VAR}@host" reads as it should)
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
    """A secret in a file meant to be committed is refused; `${VAR}` references are fine. The secret is
    the password, or, with no password, the user name itself (`https://TOKEN@host`: how GitHub, GitLab
    and most token-based indexes are written), which is as secret as a password."""
    _, user, password = split(url)
    if password is not None:
        if password and not _VAR.fullmatch(password):
            raise BadInput(f"{where}: the URL {redact(url)} holds a password; committed files must not",
                           fix=f"write it as https://{user or 'USER'}:${{{PASSWORD_VAR}}}@host/... and set "
                               f"{PASSWORD_VAR} in the environment (or use ~/.netrc)")
    elif user and not _VAR.fullmatch(user):
        raise BadInput(f"{where}: the URL {redact(url)} holds a user name or token with no password; a token "
                       "there is a secret, and committed files must not hold one",
                       fix=f"write it as https://${{{TOKEN_VAR}}}@host/... and set {TOKEN_VAR} in the "
                           "environment, or drop the user name and put the credentials in ~/.netrc")


def refuse_secret_argv(argv: Sequence[str]) -> None:
    """The last guard before an engine starts: no element of its command line holds a credential (every
    local user can read a command line in `ps`; credentials go in the environment, see engine_env)."""
    for arg in argv:
        if "@" in arg and redact(arg) != arg:
            raise BadInput(f"refusing to start {os.path.basename(str(argv[0]))} with a credential on its "
                           f"command line ({redact(arg)}): every user of this machine could read it",
                           fix="this is a tfsetup bug: please report it; meanwhile put the credentials in "
                               "~/.netrc and drop them from the URL")


def engine_env(index_url: Optional[str], extra_urls: Sequence[str],
               find_links: Sequence[str] = ()) -> Tuple[List[str], Dict[str, str]]:
    """(argv, env) for an engine's index and find-links options: URLs with credentials travel in the
    environment, never on the argv. uv and pip both read UV_/PIP_INDEX_URL and the space-separated
    *_EXTRA_INDEX_URL; find-links are UV_FIND_LINKS (comma-separated, uv >= 0.4.19: "Equivalent to the
    --find-links command-line argument", docs.astral.sh/uv/reference/environment) and PIP_FIND_LINKS
    (space-separated, like every list option of pip's environment). An option on the argv replaces
    the variable (uv ignores UV_FIND_LINKS once --find-links is given), so a list with any credentials
    goes whole into the environment."""
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
    if any(has_secret(link) for link in find_links):
        env.update(find_links_env(find_links))
    else:
        for link in find_links:
            argv += ["--find-links", link]
    return argv, env


def find_links_env(find_links: Sequence[str]) -> Dict[str, str]:
    """UV_FIND_LINKS and PIP_FIND_LINKS for these links; a link holding the lists' separators cannot be
    told apart from two links there, so it is refused (exit 2) rather than split."""
    for link in find_links:
        if "," in link or any(c.isspace() for c in link):
            raise BadInput(f"the find-links location {redact(link)} holds a comma or a space; with credentials "
                           "on another find-links URL, every location travels in one list where those "
                           "separate entries", fix="rename that directory (or percent-encode the URL)")
    return {"UV_FIND_LINKS": ",".join(find_links), "PIP_FIND_LINKS": " ".join(find_links)}


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
