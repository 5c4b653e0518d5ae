"""Transport layer: the proxy the environment names for the API, read once per client.

aiohttp's ``trust_env=True`` would do this on every request, in the thread
pool, and would also read ``~/.netrc`` (or ``$NETRC``) for the API host: an
entry there (a ``default`` one matches every host) becomes Basic credentials
that clash with our bearer header, so each request fails with a bare
``ValueError``. Sessions are therefore opened with ``trust_env=False`` and
the proxy is resolved here, with the same stdlib rules aiohttp applies
(``urllib.request.getproxies``, ``proxy_bypass``), minus netrc.
"""

from __future__ import annotations

import logging
import urllib.request

from yarl import URL

__all__ = ["env_proxy"]

logger = logging.getLogger("billabex_async")


def env_proxy(url: URL) -> str | None:
    """The proxy ``HTTPS_PROXY`` (or ``https_proxy``) names for ``url``, or None.

    None when ``NO_PROXY`` exempts the host, when no proxy is set for the
    URL's scheme, or when the proxy itself is ``https://`` (aiohttp does not
    tunnel through one read from the environment, and ignores it the same
    way). Credentials in the proxy URL are kept: aiohttp sends them to the
    proxy as ``Proxy-Authorization``, never to the API.
    """
    if url.host is not None and urllib.request.proxy_bypass(url.host):
        return None
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy:
        return None
    if URL(proxy).scheme == "https":
        # Never echo the URL: it may hold the proxy's password.
        logger.warning("an https:// proxy from the environment is not supported; ignoring it")
        return None
    return proxy
