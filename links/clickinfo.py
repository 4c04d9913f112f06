"""What a click tells: device, OS, browser, country, and whether a person made it.

Pure functions, used by the click writer (never on the redirect's hot path,
except ``client_ip``/``ip_truncate`` which are cheap).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import iptocc
import ua_parser
from crawlerdetect import CrawlerDetect
from django.conf import settings

#: Link-preview fetchers: chat apps and social sites that fetch a link to draw
#: its card. iMessage announces itself as ``facebookexternalhit/1.1 Facebot Twitterbot/1.0``.
PREVIEW_FETCHERS: tuple[tuple[str, str], ...] = (
    ("facebookexternalhit", "link preview: facebookexternalhit (iMessage, Facebook)"),
    ("facebot", "link preview: Facebot"),
    ("twitterbot", "link preview: Twitterbot"),
    ("whatsapp", "link preview: WhatsApp"),
    ("slackbot", "link preview: Slackbot"),
    ("telegrambot", "link preview: Telegram"),
    ("discordbot", "link preview: Discord"),
    ("google-pagerenderer", "link preview: Google-PageRenderer"),
    ("linkedinbot", "link preview: LinkedIn"),
    ("skypeuripreview", "link preview: Skype"),
    ("viber", "link preview: Viber"),
    ("snapchat", "link preview: Snapchat"),
    ("pinterestbot", "link preview: Pinterest"),
    ("redditbot", "link preview: Reddit"),
    ("embedly", "link preview: Embedly"),
    ("iframely", "link preview: Iframely"),
)

#: Mail and link scanners that open every link they see before the person does.
LINK_SCANNERS: tuple[tuple[str, str], ...] = (
    ("safelinks", "link scanner: Microsoft Safe Links"),
    ("safe links", "link scanner: Microsoft Safe Links"),
    ("bingpreview", "link scanner: Microsoft (BingPreview)"),
    ("mimecast", "link scanner: Mimecast"),
    ("proofpoint", "link scanner: Proofpoint"),
    ("urldefense", "link scanner: Proofpoint"),
    ("barracuda", "link scanner: Barracuda"),
    ("forcepoint", "link scanner: Forcepoint"),
    ("trendmicro", "link scanner: Trend Micro"),
)

_TABLET_RE = re.compile(r"ipad|tablet|kindle|silk/|playbook|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE_RE = re.compile(r"mobile|iphone|ipod|android|blackberry|opera mini|iemobile|windows phone", re.IGNORECASE)
_DESKTOP_OS = ("windows", "mac os x", "linux", "ubuntu", "chrome os", "fedora", "freebsd", "debian", "macos")

logger = logging.getLogger(__name__)

_crawler_detect = CrawlerDetect()
_crawler_lock = threading.Lock()


@dataclass(frozen=True)
class UserAgentInfo:
    device_type: str
    os_family: str
    os_version: str
    browser_family: str
    browser_version: str
    device_brand: str
    device_model: str
    is_bot: bool
    bot_reason: str


def _version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)[:32]


def bot_reason_for(user_agent: str, method: str = "GET") -> str:
    """Why this request is not a person ('' when it is one)."""
    if method.upper() == "HEAD":
        return "HEAD request"
    ua = user_agent.strip()
    if not ua:
        return "no user agent"
    lowered = ua.lower()
    for token, reason in PREVIEW_FETCHERS:
        if token in lowered:
            return reason
    for token, reason in LINK_SCANNERS:
        if token in lowered:
            return reason
    with _crawler_lock:
        if _crawler_detect.is_crawler(ua):
            return f"crawler: {_crawler_detect.get_matches() or 'listed'}"[:100]
    return ""


@lru_cache(maxsize=8192)
def user_agent_info(user_agent: str, method: str = "GET") -> UserAgentInfo:
    """Device, OS, browser and bot verdict for a user agent (cached: user agents repeat)."""
    parsed = ua_parser.parse(user_agent).with_defaults() if user_agent else None
    reason = bot_reason_for(user_agent, method)
    if parsed is not None and not reason and parsed.device.family == "Spider":
        reason = "crawler: ua-parser spider"
    os_family = parsed.os.family if parsed else ""
    device_type = "other"
    if user_agent:
        if _TABLET_RE.search(user_agent) or (parsed and parsed.device.family == "iPad"):
            device_type = "tablet"
        elif _MOBILE_RE.search(user_agent):
            device_type = "mobile"
        elif os_family.lower().startswith(_DESKTOP_OS):
            device_type = "desktop"
    return UserAgentInfo(
        device_type=device_type,
        os_family=("" if os_family == "Other" else os_family)[:64],
        os_version=_version(parsed.os.major, parsed.os.minor) if parsed else "",
        browser_family=("" if not parsed or parsed.user_agent.family == "Other" else parsed.user_agent.family)[:64],
        browser_version=_version(parsed.user_agent.major, parsed.user_agent.minor) if parsed else "",
        device_brand=((parsed.device.brand or "") if parsed else "")[:64],
        device_model=((parsed.device.model or "") if parsed else "")[:64],
        is_bot=bool(reason),
        bot_reason=reason,
    )


def country_for(ip: str | None) -> str:
    """ISO country of an address from iptocc's offline registry data ('' when unknown or private)."""
    if not ip:
        return ""
    try:
        return iptocc.country_code(ip) or ""
    except (ValueError, TypeError):
        return ""


@lru_cache(maxsize=1)
def _trusted_networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in spec if s.strip())


def _is_trusted(ip: str, networks) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)


_forwarded_warned = False


def _warn_forwarded_untrusted() -> None:
    """Once per process: X-Forwarded-For arrived but no proxy is trusted, so every client looks like the proxy."""
    global _forwarded_warned
    if _forwarded_warned:
        return
    _forwarded_warned = True
    logger.warning(
        "links: a request carried X-Forwarded-For but LINKS_TRUSTED_PROXIES is empty, so the proxy's own "
        "address is taken as every client's (one country for all clicks, one probe counter for everyone "
        "behind it); set LINKS_TRUSTED_PROXIES to the proxy's addresses or networks (e.g. 10.0.0.0/8). "
        "Logged once per process."
    )


def client_ip(meta: dict) -> str:
    """The client's address: ``REMOTE_ADDR``, or ``X-Forwarded-For`` only when the peer is a trusted proxy.

    Walks the forwarded chain from the right, skipping trusted proxies; the first
    untrusted address is the client. A forged left part of the header is ignored.
    With no trusted proxies the header is ignored, and its first sighting is logged
    once (a proxy nobody told us about).
    """
    remote = meta.get("REMOTE_ADDR", "") or ""
    trusted = tuple(getattr(settings, "LINKS_TRUSTED_PROXIES", ()) or ())
    if not trusted:
        if not _forwarded_warned and "HTTP_X_FORWARDED_FOR" in meta:
            _warn_forwarded_untrusted()
        return remote
    networks = _trusted_networks(trusted)
    if not _is_trusted(remote, networks):
        return remote
    forwarded = [p.strip() for p in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    for hop in reversed(forwarded):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a malformed hop: trust nothing further left
        if not _is_trusted(hop, networks):
            return hop
    return forwarded[0] if forwarded else remote


def ip_truncate(ip: str) -> str:
    """The address as stored: IPv4 to /24, IPv6 to /48, unless LINKS_KEEP_FULL_IP is on."""
    return _truncate(ip, bool(getattr(settings, "LINKS_KEEP_FULL_IP", False)))


@lru_cache(maxsize=16384)
def _truncate(ip: str, keep: bool) -> str:
    if not ip:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if keep:
        return str(addr)
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)


@lru_cache(maxsize=16384)
def probe_key_for(ip: str) -> str:
    """The unit rate limits count unknown codes by: the IPv4 address, or the IPv6 /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False).network_address)
    return str(addr)
