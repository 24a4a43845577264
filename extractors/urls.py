"""URL normalisation for dedupe before fetching.

The same article reaches us as `https://www.zeit.de/a?utm_source=rss`, `http://zeit.de/a/` and
`https://m.zeit.de/a#comments`. `url_key` maps all of them to one key. courlan (trafilatura's own
URL library) sorts query parameters and drops the well-known trackers; we add the trackers German
publishers use (Webtrekk `wt_*`, AT Internet `at_*`/`xtor`) and fold what Media Cloud folds:
scheme, `www.`/`m.` hosts, fragments and trailing slashes.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from courlan import normalize_url

# Parameters that say where a click came from, never which article it is.
_TRACKING_PARAM = re.compile(
    r"^(?:utm_.*|wt_.*|at_.*|xtor|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|"
    r"ns_.*|cmp|cmpid|icid|ito|ref|referrer|emc|dicbo|ocid|s_cid|"
    r"_ga|_gl|zanpid|oly_.*|vero_.*|mkt_tok|sara_ecid|xing_share|trk|trkcampaign)$",
    re.IGNORECASE,
)
_MOBILE_OR_WWW = re.compile(r"^(?:www\d?|m|mobil|mobile|amp)\.", re.IGNORECASE)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#]*@")


def redact_url(url: str) -> str:
    """`https://user:secret@host/x` -> `https://***@host/x`: credentials never reach messages."""
    return _USERINFO.sub(r"\1***@", url)


def outlet_of(url: str) -> str:
    """`https://www.tagesschau.de/x` -> `tagesschau.de` (the outlet name shown to desks)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return _MOBILE_OR_WWW.sub("", host)


def url_key(url: str) -> str:
    """A normalised form of `url` that is equal for every spelling of the same article URL.

    The key drops the scheme (`//host/path?query`): http and https copies are one article.
    """
    url = url.strip()
    try:
        normalised = normalize_url(url, strict=False, trailing_slash=False)
    except ValueError:
        normalised = url
    parts = urlsplit(normalised)
    host = outlet_of(normalised)
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/") or "/"
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAM.match(name)
    ]
    query.sort()
    return urlunsplit(("", host, path, urlencode(query), ""))


def article_id_for(key: str) -> str:
    """Stable article id derived from a url_key (or any other unique key, e.g. `seed:<file>`)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
