"""Keys and hosts: which environment variables may supply a key, which hosts a key may go
to, and which hosts a provider may call at all.

    key_env(policy, ...)        the variable a provider may read its key from (or None), or
                                ConfigError when the config asks for a key it may not have
    key_may_go(policy, env, h)  may the key in `env` be sent to host `h`?
    check_url(policy, url, ...) at creation: the scheme, and a literal IP against the allow-list
    check_addresses(...)        at connect: every address a host name resolved to
    resolve_checked(...)        resolve a name and check it (the SDK transports' connect hook)

Like GitLab's outbound-request settings and Grafana's data-source allow-lists, a host name is
resolved and every address it resolves to must be allowed: a public name that points at
127.0.0.1 or 169.254.169.254 is refused unless listed. The check runs on the addresses the
connection then uses (an aiohttp resolver, an httpcore network backend), so a name that
changes its answer between a check and the connect (DNS rebinding) gains nothing; redirects
are not followed under a strict policy. A listed host name is trusted whatever it resolves to.

A permissive policy (`egress_allow` None, `key_envs` None: the CLI and library) allows
everything and costs nothing: no resolver is installed and no name is looked up.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from promptyard.errors import ConfigError
from promptyard.trust.policy import VENDOR_KEY_HOSTS, TrustPolicy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Private ranges: RFC 1918, carrier-grade NAT, IPv6 unique local.
_PRIVATE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
# Cloud metadata services: refused unless listed by address or CIDR, even when "private" is.
METADATA: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SCHEMES = ("http", "https")


class EgressRefused(OSError):
    """A connection the policy does not allow (raised at connect time, in a resolver)."""


def refusal_in(exc: BaseException) -> EgressRefused | None:
    """The policy's refusal of a connection anywhere in `exc`'s causes (an HTTP client wraps
    it in its own connection error)."""
    current: BaseException | None = exc
    for _ in range(16):
        if current is None:
            return None
        if isinstance(current, EgressRefused):
            return current
        current = current.__cause__ or current.__context__
    return None


def vendor_host(host: str) -> bool:
    """One of the vendors' own API hosts (their error messages are shown as they are)."""
    name = _norm_host(host)
    for hosts in VENDOR_KEY_HOSTS.values():
        suffixes = ["." + h.lstrip("*.") for h in hosts if h.startswith(("*.", "."))]
        if _name_matches(name, hosts, suffixes):  # "*.openai.azure.com": Azure's resources
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Allow:
    names: frozenset[str]
    suffixes: tuple[str, ...]  # ".example.com" for "*.example.com" or ".example.com"
    nets: tuple[IPNetwork, ...]
    loopback: bool
    private: bool


@functools.lru_cache(maxsize=32)
def _parse(entries: tuple[str, ...]) -> _Allow:
    names: set[str] = set()
    suffixes: list[str] = []
    nets: list[IPNetwork] = []
    loopback = private = False
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry == "loopback":
            loopback = True
        elif entry == "private":
            private = True
        elif entry.startswith(("*.", ".")):
            suffixes.append("." + entry.lstrip("*."))
        else:
            try:
                nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if "/" in entry or ":" in entry:
                    raise ConfigError(
                        f"PROMPTYARD_EGRESS_ALLOW: {raw!r} is not a host, IP, CIDR, "
                        "'loopback' or 'private'"
                    ) from None
                names.add(entry)
    return _Allow(frozenset(names), tuple(suffixes), tuple(nets), loopback, private)


def _norm_host(host: str) -> str:
    return host.strip().strip("[]").lower().rstrip(".")


def _name_matches(host: str, names: Iterable[str], suffixes: Iterable[str] = ()) -> bool:
    return host in names or any(host.endswith(s) for s in suffixes)


def host_listed(policy: TrustPolicy, host: str) -> bool:
    """A host name the operator listed (trusted whatever it resolves to)."""
    if policy.egress_allow is None:
        return True
    allow = _parse(policy.egress_allow)
    return _name_matches(_norm_host(host), allow.names, allow.suffixes)


def address_kind(ip: IPAddress) -> str:
    """ "public", "loopback", "private", "metadata", "link-local" or "reserved"."""
    ip = _unwrap(ip)
    if ip in METADATA:
        return "metadata"
    if ip.is_loopback or ip.is_unspecified:  # 0.0.0.0 connects to this machine
        return "loopback"
    if any(ip in net for net in _PRIVATE):
        return "private"
    if ip.is_link_local:
        return "link-local"
    if ip.is_global and not ip.is_multicast:
        return "public"
    return "reserved"


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def address_allowed(policy: TrustPolicy, ip: IPAddress | str) -> bool:
    """May a provider connect to `ip`? Public addresses yes; the rest only when listed."""
    if policy.egress_allow is None:
        return True
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    allow = _parse(policy.egress_allow)
    inner = _unwrap(addr)
    if any(addr in net or inner in net for net in allow.nets):
        return True
    kind = address_kind(addr)
    return (
        kind == "public"
        or (kind == "loopback" and allow.loopback)
        or (kind == "private" and allow.private)
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def url_host(url: str) -> str:
    """The host of `url`, lower case, without brackets ("" when it has none)."""
    try:
        return _norm_host(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def check_url(policy: TrustPolicy, url: str, *, where: str = "", field: str | None = None) -> str:
    """At creation: `url`'s host, after checking its scheme and its addresses: a literal IP
    as it is; a host name resolved, every address checked, when this thread runs no event loop
    (the server's pre-flight runs on a worker thread; a provider built on the event loop does
    not block it on DNS). Either way a name is checked again when connecting, on the addresses
    the connection uses. ConfigError names the host and the setting, never the URL's userinfo
    or query."""
    host = url_host(url)
    if policy.egress_allow is None:
        return host
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _SCHEMES or not host:
        raise ConfigError(
            "a provider URL must be http:// or https:// with a host"
            + (f", not {scheme}://" if scheme not in _SCHEMES and scheme else ""),
            file=where or None,
            field=field,
        )
    if host_listed(policy, host):
        return host
    ip = _literal(host)
    if ip is not None:
        if not address_allowed(policy, ip):
            raise ConfigError(refusal(host, [ip]), file=where or None, field=field)
    elif not _loop_running():
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return host  # no answer now: the connect resolves (and checks) again
        try:
            check_addresses(policy, host, [str(info[4][0]) for info in infos])
        except EgressRefused as exc:
            raise ConfigError(str(exc), file=where or None, field=field) from None
    return host


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def refusal(host: str, ips: Iterable[IPAddress | str]) -> str:
    """The message for a refused host: what it is and the setting that would allow it."""
    shown = sorted({str(ip) for ip in ips})
    kinds = sorted({address_kind(ipaddress.ip_address(ip)) for ip in shown})
    where = host if shown == [host] else f"{host} ({', '.join(shown)})"
    return (
        f"calls to {where} are not allowed here: {' and '.join(kinds)} addresses are refused "
        "unless the operator lists them in PROMPTYARD_EGRESS_ALLOW"
    )


def check_addresses(policy: TrustPolicy, host: str, ips: Iterable[str]) -> None:
    """At connect: EgressRefused unless `host` is listed or every address is allowed."""
    if policy.egress_allow is None or host_listed(policy, host):
        return
    addrs = [ipaddress.ip_address(ip.partition("%")[0]) for ip in ips]
    if not addrs or not all(address_allowed(policy, a) for a in addrs):
        raise EgressRefused(refusal(_norm_host(host), addrs))


async def resolve_checked(policy: TrustPolicy, host: str, port: int) -> list[str]:
    """The addresses of `host` (resolved off the event loop), all checked; EgressRefused when
    one is not allowed. A literal IP is checked as it is."""
    name = _norm_host(host)
    if _literal(name) is not None:
        check_addresses(policy, name, [name])
        return [name]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    ips = list(dict.fromkeys(str(info[4][0]) for info in infos))
    check_addresses(policy, name, ips)
    return ips


# -- keys ------------------------------------------------------------------------------------


def key_may_go(policy: TrustPolicy, env: str, host: str) -> bool:
    """May the key in `env` be sent to `host`? Its vendor's own host, or one the operator
    listed for it (`ENV=host`) or for every key (`host`). Anything under a permissive policy."""
    if policy.key_envs is None:
        return True
    host = _norm_host(host)
    allowed = (
        VENDOR_KEY_HOSTS.get(env, frozenset())
        | policy.key_hosts.get(env, frozenset())
        | policy.key_hosts.get("*", frozenset())
    )
    names = {h for h in allowed if not h.startswith(("*.", "."))}
    suffixes = ["." + h.lstrip("*.") for h in allowed if h.startswith(("*.", "."))]
    return _name_matches(host, names, suffixes)


def key_env(
    policy: TrustPolicy,
    *,
    env: str | None,
    explicit: bool,
    required: bool,
    host: str,
    where: str = "",
) -> str | None:
    """The environment variable a provider may read its key from, or None (send no key).

    `env` is the config's `api_key_env` (`explicit`) or the vendor's default variable;
    `required`: the provider cannot work without a key. A variable off the allow-list, or a
    key that may not go to `host`, is ConfigError when the config named it or needs it, and is
    silently not read when it was only an optional default (an `ollama:` provider whose
    OLLAMA_API_KEY the operator did not allow calls without one). An inline key (`apiKey`)
    never reaches here: it is the author's own.
    """
    if not env or policy.key_envs is None:
        return env or None
    field = "config.api_key_env" if explicit else "config.base_url"
    if env not in policy.key_envs:
        if not (explicit or required):
            return None
        allowed = ", ".join(sorted(policy.key_envs)) or "none"
        raise ConfigError(
            f"the environment variable {env} may not supply keys here (allowed: {allowed}; "
            "the operator sets PROMPTYARD_KEY_ENVS), or give the key inline (`apiKey`)",
            file=where or None,
            field=field,
        )
    if not key_may_go(policy, env, host):
        if not (explicit or required):
            return None
        own = sorted(VENDOR_KEY_HOSTS.get(env, frozenset()))
        goes = f"goes only to {', '.join(own)}" if own else "goes to no host listed for it"
        raise ConfigError(
            f"the key in {env} {goes}, not to {host or 'this URL'} (the operator can allow it "
            f"with PROMPTYARD_KEY_HOSTS={env}={host or 'HOST'}), or give the key inline (`apiKey`)",
            file=where or None,
            field=field,
        )
    return env
