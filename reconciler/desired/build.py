"""Turn the schema-valid merged document into `Desired`, with the checks a schema cannot express.

Semantic checks (no network): exact amounts, reference syntax, slots against the upstream's
maxConcurrency, the `tee` tag, tags that mislead the router's health probe, resale acknowledgement,
duplicates, cost models (rounded up to whole wei), and that each model's apiType serves its endpoint, has
its key and a URL the forwarder can call (so nothing validates that would generate a wrong entry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.desired.apitypes import API_TYPES, types_serving
from reconciler.desired.diagnostics import Diagnostic, Location, Severity, format_path
from reconciler.desired.model import (
    DEFAULT_TAGS,
    MEDIA_ENDPOINTS,
    BidSpec,
    ChurnGuard,
    CostModel,
    Desired,
    Endpoint,
    MarketPolicy,
    ModelSpec,
    NetworkSpec,
    PolicyKnobs,
    PolicySpec,
    ProviderSpec,
    ProxySpec,
    RouterSpec,
    SignerSpec,
    Subscription,
    TokenPrices,
    UpstreamSpec,
)
from reconciler.desired.references import BadReference, Reference, parse_reference
from reconciler.desired.secrets import Role, SecretUse, check_uses
from reconciler.desired.yamlsource import Path_
from reconciler.market import ids
from reconciler.market.pricing import SECONDS_PER_YEAR, price_from_cost, to_fraction
from reconciler.market.units import AmountError, parse_amount

# The proxy-router's health probe: first recognised tag wins (case-insensitive).
PROBE_TAGS: dict[str, Endpoint] = {
    **dict.fromkeys(("llm", "textgeneration", "text2text", "t2t"), Endpoint.CHAT),
    **dict.fromkeys(("embedding", "embeddings"), Endpoint.EMBEDDINGS),
    **dict.fromkeys(("tts", "text-to-speech", "t2s"), Endpoint.AUDIO_SPEECH),
    **dict.fromkeys(("stt", "transcribe", "s2t", "speech", "speech-to-text"), Endpoint.AUDIO_TRANSCRIPTION),
}


class _Builder:
    def __init__(self, locate: Callable[[Path_], Location]) -> None:
        self.locate = locate
        self.diags: list[Diagnostic] = []
        self.secrets: dict[SecretUse, Path_] = {}  # every field that takes a secret, with where it was written

    def error(self, path: Path_, message: str) -> None:
        self.diags.append(Diagnostic(self.locate(path), format_path(path), message))

    def warn(self, path: Path_, message: str) -> None:
        self.diags.append(Diagnostic(self.locate(path), format_path(path), message, Severity.WARNING))

    def base_dir(self, path: Path_) -> Path:
        return Path(self.locate(path).file).resolve().parent

    def amount(self, value: Any, path: Path_, default: int = 0) -> int:
        if value is None:
            return default
        try:
            return parse_amount(value)
        except AmountError as exc:
            self.error(path, str(exc))
            return default

    def ref(self, value: Any, path: Path_) -> Reference | None:
        if value is None:
            return None
        try:
            return parse_reference(str(value), self.base_dir(path))
        except BadReference as exc:
            self.error(path, str(exc))
            return None

    def secret(self, value: Any, path: Path_, role: Role, key: bool = False) -> Reference | None:
        """A reference to a secret of `role`, remembered for the checks of reconciler.desired.secrets."""
        ref = self.ref(value, path)
        if ref is not None:
            self.secrets[SecretUse(format_path(path), role, ref, key)] = path
        return ref

    def check_secrets(
        self, environ: Mapping[str, str] | None, given: tuple[SecretUse, ...] = (), roles: bool = True
    ) -> None:
        """The desired state's secrets with those the command line `given` (first: a conflict is then reported
        at the YAML's field, naming the flag). `roles=False`: the role rule is left to the caller (a fleet
        compares every provider's secrets at once)."""
        for use in given:
            self.secrets = {use: (), **self.secrets}
        check_uses(
            list(self.secrets),
            lambda use: Path(self.locate(self.secrets[use]).file),
            environ,
            lambda use, message: self.error(self.secrets[use], self._named(use, message)),
            lambda use, message: self.warn(self.secrets[use], self._named(use, message)),
            roles,
        )

    def _named(self, use: SecretUse, message: str) -> str:
        """A flag's secret has no YAML path to be reported at: its message starts with the flag's name."""
        return message if self.secrets[use] else f"{use.field}: {message}"

    def rel_path(self, value: str, path: Path_) -> str:
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (self.base_dir(path) / p).resolve())

    def fraction(self, value: Any, path: Path_) -> Fraction:
        try:
            return to_fraction(value)
        except (ValueError, ZeroDivisionError):
            self.error(path, f"{value!r} is not a number")
            return Fraction(0)


def _endpoint_problem(endpoint: str) -> str | None:
    """What keeps buyers from dialing host:port (the schema checked its shape): it goes on chain as written."""
    host, _, port = endpoint.rpartition(":")
    if not 1 <= int(port) <= 65535:
        return f"port {port} is not a TCP port (1 to 65535)"
    if len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        return f"the host name ({len(host)} characters) is longer than DNS allows (253, 63 per label)"
    return None


def build_desired(
    data: dict[str, Any],
    locate: Callable[[Path_], Location],
    sources: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
    given: tuple[SecretUse, ...] = (),
    secret_uses: list[tuple[SecretUse, Path_]] | None = None,
) -> tuple[Desired | None, list[Diagnostic]]:
    """`environ`: where `env:` references are read to tell whether two roles share one secret (None: os.environ);
    `given`: secrets the command line names (`--key-ref`, `--webhook`), held to the same rules. `secret_uses`
    (a fleet's member): the role rule is left to the caller, and every field that takes a secret is added to it
    with the path it was written at."""
    b = _Builder(locate)
    network = _network(b, data["network"])
    signer = _signer(b, data["signer"])
    p = data["provider"]
    provider = ProviderSpec(
        address=ids.checksum(p["address"]),
        endpoint=p["endpoint"],
        stake=b.amount(p["stake"], ("provider", "stake")),
        absent=bool(p.get("absent", False)),
        location=locate(("provider",)),
    )
    if (problem := _endpoint_problem(provider.endpoint)) is not None:
        b.error(("provider", "endpoint"), problem)
    upstreams = tuple(_upstream(b, name, u) for name, u in (data.get("upstreams") or {}).items())
    models = tuple(
        m
        for i, raw in enumerate(data.get("models") or [])
        if (m := _model(b, i, raw, provider.address, {u.name: u for u in upstreams})) is not None
    )
    _check_duplicates(b, models)
    _check_slots(b, upstreams, models, data.get("models") or [])
    proxy = _proxy(b, data["proxy"]) if "proxy" in data else None
    policy = _policy(b, data.get("policy") or {})
    if policy.max_spend_per_apply is None and not provider.absent:
        b.error(
            ("policy", "maxSpendPerApply") if "policy" in data else ("provider",),
            "policy.maxSpendPerApply is required: this desired state costs MOR (stake, fees); "
            'set the most one apply may spend, e.g. "2 MOR"',
        )
    if any(not m.absent for m in models) and proxy is None:
        b.error(("models",), "models are declared but there is no proxy section (proxy.modelsConfigPath)")
    b.check_secrets(environ, given, roles=secret_uses is None)
    if secret_uses is not None:
        secret_uses.extend(b.secrets.items())
    if any(d.severity is Severity.ERROR for d in b.diags):
        return None, b.diags
    desired = Desired(
        network=network,
        signer=signer,
        provider=provider,
        upstreams=upstreams,
        models=models,
        proxy=proxy,
        policy=policy,
        sources=sources,
    )
    return desired, b.diags


def _network(b: _Builder, n: dict[str, Any]) -> NetworkSpec:
    preset = n.get("preset")
    explicit = [k for k in ("chainId", "diamond", "mor") if k in n]
    if preset is None and len(explicit) < 3:
        b.error(
            ("network",),
            "give a preset (base, base-sepolia, arbitrum, arbitrum-sepolia, devnet) or all of chainId, diamond and mor",
        )
    given = "rpcUrl" in n or "rpcUrls" in n
    if "rpcUrl" in n and "rpcUrls" in n:
        b.error(("network",), "give rpcUrl or rpcUrls, not both (rpcUrl is a list of one)")
    if preset not in (None, "devnet") and not given:
        b.error(("network",), "missing required field 'rpcUrl' (a reference such as env:BASE_RPC_URL) or 'rpcUrls'")
    if preset is None and not given:
        b.error(("network",), "missing required field 'rpcUrl' (a reference such as env:RPC_URL) or 'rpcUrls'")
    urls = [b.secret(u, ("network", "rpcUrls", k), Role.CHAIN) for k, u in enumerate(n.get("rpcUrls") or [])]
    for key in ("fromBlock", "logBlockRange"):
        if key in n:
            b.warn(
                ("network", key),
                "deprecated and ignored: models are found from the registry's list, not by scanning logs, "
                "and log ranges adapt to the endpoint; remove it",
            )
    return NetworkSpec(
        preset=preset,
        chain_id=n.get("chainId"),
        diamond=ids.checksum(n["diamond"]) if "diamond" in n else None,
        mor=ids.checksum(n["mor"]) if "mor" in n else None,
        rpc_url=b.secret(n.get("rpcUrl"), ("network", "rpcUrl"), Role.CHAIN),
        devnet_dir=b.rel_path(n["devnetDir"], ("network", "devnetDir")) if "devnetDir" in n else None,
        log_block_range=n.get("logBlockRange", 10_000),
        from_block=n.get("fromBlock", 0),
        l1_data_fee=n.get("l1DataFee"),
        rpc_urls=tuple(u for u in urls if u is not None),
        confirmations=n.get("confirmations"),
    )


def _signer(b: _Builder, s: dict[str, Any]) -> SignerSpec:
    if ("privateKey" in s) == ("keystore" in s):
        b.error(("signer",), "give exactly one of privateKey (a reference) or keystore (+ password reference)")
    return SignerSpec(
        address=ids.checksum(s["address"]),
        private_key=b.secret(s.get("privateKey"), ("signer", "privateKey"), Role.CHAIN, key=True),
        keystore=b.rel_path(s["keystore"], ("signer", "keystore")) if "keystore" in s else None,
        password=b.secret(s.get("password"), ("signer", "password"), Role.CHAIN, key=True),
    )


def _upstream(b: _Builder, name: str, u: dict[str, Any]) -> UpstreamSpec:
    path: Path_ = ("upstreams", name)
    if u.get("resaleAllowed") is not True:
        b.error(
            (*path, "resaleAllowed"),
            f"upstream '{name}': resaleAllowed must be true, your acknowledgement that its terms of service "
            "allow resale (many forbid it)",
        )
    ref = b.secret(u["apiKey"], (*path, "apiKey"), Role.UPSTREAM) if "apiKey" in u else None
    return UpstreamSpec(
        name=name,
        base_url=u["baseUrl"].rstrip("/"),
        api_key=ref if ref is not None or "apiKey" not in u else Reference("env", "INVALID"),
        api_type=u.get("apiType", "openai"),
        api_stack=u.get("apiStack"),
        max_concurrency=u.get("maxConcurrency"),
        location=b.locate(path),
    )


_MANAGED_ONLY = ("baseModelId", "ipfsCID", "fee", "stake", "tags")


def _model(b: _Builder, i: int, m: dict[str, Any], owner: str, upstreams: dict[str, UpstreamSpec]) -> ModelSpec | None:
    path: Path_ = ("models", i)
    absent = bool(m.get("absent", False))
    existing = "modelId" in m
    if existing:
        for k in _MANAGED_ONLY:
            if k in m:
                b.error((*path, k), f"'{k}' cannot be set on an existing model (modelId): it is not ours to manage")
        mid = ids.norm_hex(m["modelId"])
        base = None
        key = mid
    else:
        base = ids.norm_hex(m["baseModelId"]) if "baseModelId" in m else ids.base_model_id_for_name(m["name"])
        mid = ids.model_id(owner, base)
        key = m["name"]
    label = m.get("name") or mid
    if not absent:
        for k in ("upstream", "upstreamModel", "bid"):
            if k not in m:
                b.error(path, f"model '{label}': missing required field '{k}' (or mark it absent: true)")
        if not existing and "stake" not in m:
            b.error(path, f"model '{label}': missing required field 'stake' (the model's stake, e.g. \"0.1 MOR\")")
    up = upstreams.get(m.get("upstream", "")) if "upstream" in m else None
    if "upstream" in m and up is None:
        known = ", ".join(sorted(upstreams)) or "none declared"
        b.error((*path, "upstream"), f"unknown upstream '{m['upstream']}' (upstreams: {known})")
    api_type = m.get("apiType") or (up.api_type if up else "openai")
    endpoint = _endpoint(b, path, m, api_type, label)
    if not absent and up is not None:
        _check_upstream_url(b, path, m, api_type, endpoint, label)
        if API_TYPES[api_type].key_required and up.api_key is None:
            b.error(
                (*path, "upstream"),
                f"model '{label}': apiType {api_type} sends the upstream's key ({API_TYPES[api_type].key_header}), "
                f"but upstream '{up.name}' has no apiKey",
            )
    tags = tuple(m["tags"]) if "tags" in m else ((DEFAULT_TAGS[endpoint],) if not existing else ())
    _check_tags(b, (*path, "tags") if "tags" in m else path, tags, endpoint, label)
    bid = _bid(b, m.get("bid"), (*path, "bid"), label) if not absent else None
    return ModelSpec(
        key=key,
        model_id=mid,
        managed=not existing,
        name=m.get("name"),
        base_model_id=base,
        ipfs_cid=ids.norm_hex(m.get("ipfsCID", "0x" + "00" * 32)),
        fee=b.amount(m.get("fee"), (*path, "fee")),
        stake=b.amount(m.get("stake"), (*path, "stake")),
        tags=tags,
        upstream=m.get("upstream"),
        upstream_model=m.get("upstreamModel"),
        upstream_url=m.get("upstreamUrl"),
        endpoint=endpoint,
        api_type=api_type,
        concurrent_slots=m.get("concurrentSlots"),
        capacity_policy=m.get("capacityPolicy"),
        parameters=tuple(sorted((m.get("parameters") or {}).items())),
        bid=bid,
        absent=absent,
        location=b.locate(path),
    )


def _endpoint(b: _Builder, path: Path_, m: dict[str, Any], api_type: str, label: str) -> Endpoint:
    """The model's endpoint: given, or its apiType's default; one its apiType does not serve is an error."""
    kind = API_TYPES[api_type]
    if "endpoint" not in m:
        return kind.default_endpoint
    endpoint = Endpoint(m["endpoint"])
    if endpoint not in kind.endpoints:
        serves = ", ".join(e.value for e in kind.endpoints)
        b.error(
            (*path, "endpoint"),
            f"model '{label}': apiType {api_type} serves {serves}, not {endpoint.value} "
            f"({endpoint.value} is served by {', '.join(types_serving(endpoint))})",
        )
    return endpoint


def _check_upstream_url(
    b: _Builder, path: Path_, m: dict[str, Any], api_type: str, endpoint: Endpoint, label: str
) -> None:
    """The URL the forwarder will call must be one it can serve: a decisions URL needs its path (the router
    posts to it as it is), a chat type's URL must end with its endpoint's path (the forwarder routes on it)."""
    given = m.get("upstreamUrl")
    where: Path_ = (*path, "upstreamUrl") if given else (*path, "upstream")
    url = given or "(the upstream's baseUrl)"
    if api_type == "decisions":
        if given is not None and urlsplit(given).path.strip("/") == "":
            b.error(
                where,
                f"model '{label}': the decisions URL {url} has no path; give the full URL of the Decisions "
                "endpoint (e.g. https://decisions.example.com/v1/decisions): the router posts to it as it is",
            )
        return
    if given is None:
        return
    parts = urlsplit(given)
    if parts.query or parts.fragment:
        b.error(where, f"model '{label}': upstreamUrl may not hold a query or a fragment")
    wanted = API_TYPES[api_type].paths.get(endpoint)
    if not API_TYPES[api_type].relayed and wanted and not parts.path.rstrip("/").endswith(wanted):
        b.error(where, f"model '{label}': an {api_type} {endpoint.value} URL must end with {wanted}")


def _check_tags(b: _Builder, path: Path_, tags: tuple[str, ...], endpoint: Endpoint, label: str) -> None:
    for t in tags:
        if t.lower() == "tee":
            b.error(path, f"model '{label}': the tag '{t}' claims TEE attestation, which a resale model cannot give")
    recognised = next(((t, PROBE_TAGS[t.lower()]) for t in tags if t.lower() in PROBE_TAGS), None)
    if endpoint in MEDIA_ENDPOINTS:
        if recognised is not None:
            tag, kind = recognised
            b.error(
                path,
                f"model '{label}': the router's health probe reads tag '{tag}' as {kind.value} and would send this "
                f"{endpoint.value} model a {kind.value} request; use '{DEFAULT_TAGS[endpoint]}' "
                "(a tag the probe does not read)",
            )
        return
    if recognised is None:
        if tags and endpoint in (Endpoint.CHAT, Endpoint.EMBEDDINGS):
            b.warn(
                path,
                f"model '{label}': no tag the router's health probe recognises; put '{DEFAULT_TAGS[endpoint]}' first",
            )
        return
    tag, kind = recognised
    if kind is not endpoint:
        b.warn(
            path,
            f"model '{label}': the router's health probe reads tag '{tag}' as {kind.value}, but this model "
            f"is {endpoint.value}; use '{DEFAULT_TAGS[endpoint]}' first",
        )


def _bid(b: _Builder, raw: Any, path: Path_, label: str) -> BidSpec | None:
    if raw is None or raw == "none":
        return None
    if "pricePerSecond" in raw:
        before = len(b.diags)
        price = b.amount(raw["pricePerSecond"], (*path, "pricePerSecond"))
        if price == 0 and len(b.diags) == before:
            b.error((*path, "pricePerSecond"), "a price of 0 is not a bid; write bid: none for no bid")
        return BidSpec(price_per_second=price)
    if "market" in raw:
        return BidSpec(market=_market(b, raw["market"], (*path, "market"), label))
    return BidSpec(cost_model=_cost_model(b, raw["costModel"], (*path, "costModel"), label))


def _cost_model(b: _Builder, c: dict[str, Any], cpath: Path_, label: str) -> CostModel:
    per_year: int | None
    per_token: TokenPrices | None = None
    subscription: Subscription | None = None
    if "subscription" in c:
        s = c["subscription"]
        monthly = b.fraction(s["usdPerMonth"], (*cpath, "subscription", "usdPerMonth"))
        subscription = Subscription(monthly, s["utilizedSecondsPerMonth"])
        usd_s = monthly / s["utilizedSecondsPerMonth"]
        per_year = s["utilizedSecondsPerMonth"] * 12
        desc = f"subscription {s['usdPerMonth']} USD/month over {s['utilizedSecondsPerMonth']} s/month"
    else:
        t = c["perToken"]
        tp: Path_ = (*cpath, "perToken")
        share = b.fraction(t.get("inputShare", "0.3"), (*tp, "inputShare"))
        if share > 1:
            b.error((*tp, "inputShare"), "inputShare is a fraction between 0 and 1")
        measured = t["tokensPerSecond"] == "measured"
        if measured and "fallbackTokensPerSecond" not in t:
            b.error((*tp, "fallbackTokensPerSecond"), "tokensPerSecond: measured needs fallbackTokensPerSecond")
        elif not measured and "fallbackTokensPerSecond" in t:
            b.error((*tp, "fallbackTokensPerSecond"), "fallbackTokensPerSecond is only for tokensPerSecond: measured")
        rate_key = "fallbackTokensPerSecond" if measured else "tokensPerSecond"
        per_token = TokenPrices(
            tokens_per_second=b.fraction(t.get(rate_key, 1), (*tp, rate_key)),
            measured=measured,
            input_usd=b.fraction(t["inputUsdPerToken"], (*tp, "inputUsdPerToken")),
            output_usd=b.fraction(t["outputUsdPerToken"], (*tp, "outputUsdPerToken")),
            input_share=share,
            cached_input_usd=(
                b.fraction(t["cachedInputUsdPerToken"], (*tp, "cachedInputUsdPerToken"))
                if "cachedInputUsdPerToken" in t
                else None
            ),
            cache_write_usd=(
                b.fraction(t["cacheWriteUsdPerToken"], (*tp, "cacheWriteUsdPerToken"))
                if "cacheWriteUsdPerToken" in t
                else None
            ),
        )
        usd_s = per_token.tokens_per_second * (share * per_token.input_usd + (1 - share) * per_token.output_usd)
        per_year = t.get("utilizedSecondsPerYear")
        rate = f"measured (fallback {t.get('fallbackTokensPerSecond')})" if measured else t["tokensPerSecond"]
        desc = f"per-token {rate} tokens/s, input share {share}"
    mor_raw = c["morUsd"]
    mor_usd: Fraction | Reference
    if isinstance(mor_raw, str) and (mor_raw.startswith("env:") or mor_raw.startswith("file:")):
        mor_usd = b.ref(mor_raw, (*cpath, "morUsd")) or Fraction(1)
    else:
        mor_usd = b.fraction(mor_raw, (*cpath, "morUsd"))
        if mor_usd == 0:
            b.error((*cpath, "morUsd"), "morUsd must be greater than 0")
            mor_usd = Fraction(1)
    margin = b.fraction(c.get("margin", 0), (*cpath, "margin"))
    if per_year is not None and per_year > SECONDS_PER_YEAR:
        b.error(cpath, f"model '{label}': more utilised seconds than a year has")
    cm = CostModel(
        usd_per_second=usd_s,
        mor_usd=mor_usd,
        margin=margin,
        utilized_seconds_per_year=per_year,
        description=desc,
        per_token=per_token,
        subscription=subscription,
    )
    if isinstance(mor_usd, Fraction) and price_from_cost(usd_s, mor_usd, margin) == 0:
        b.error(cpath, "the cost model gives a price of 0 wei per second")
    return cm


_TARGETS = ("rank", "percentile", "follow")


def _market(b: _Builder, raw: dict[str, Any], path: Path_, label: str) -> MarketPolicy:
    """`bid.market`: the floor, the ceiling, exactly one target, and when a new price is worth a repost."""
    floor_raw = raw["floor"]
    floor_price: int | None = None
    floor_cm: CostModel | None = None
    if isinstance(floor_raw, dict):
        floor_cm = _cost_model(b, floor_raw["costModel"], (*path, "floor", "costModel"), label)
    else:
        floor_price = b.amount(floor_raw, (*path, "floor"))
    ceiling = b.amount(raw["ceiling"], (*path, "ceiling"))
    if floor_price is not None and floor_price > ceiling:
        b.error((*path, "floor"), f"model '{label}': the floor {floor_price} wei/s is above the ceiling {ceiling}")
    targets = [t for t in _TARGETS if t in raw]
    if len(targets) != 1:
        b.error(path, f"model '{label}': say exactly one target: rank, percentile or follow (got {targets or 'none'})")
    percentile = None
    if "percentile" in raw:
        percentile = b.fraction(raw["percentile"], (*path, "percentile"))
        if not 0 < percentile <= 100:
            b.error((*path, "percentile"), "percentile is above 0 and at most 100")
    follow = None
    if "follow" in raw:
        follow = str(raw["follow"]).lower()
        if not (len(follow) == 42 and follow.startswith("0x") and all(c in "0123456789abcdef" for c in follow[2:])):
            b.error((*path, "follow"), f"follow is a provider's 0x address of 40 hex digits, got {raw['follow']!r}")
    offset = 0
    if "offset" in raw:
        text = str(raw["offset"]).strip()
        negative = text.startswith("-")
        offset = b.amount(text.removeprefix("-").strip(), (*path, "offset"))
        offset = -offset if negative else offset
        if follow is None:
            b.error((*path, "offset"), "offset goes with follow")
    knobs = PolicyKnobs(
        min_gain_percent=b.fraction(raw.get("minGainPercent", 5), (*path, "minGainPercent")),
        hysteresis_percent=b.fraction(raw.get("hysteresisPercent", 2), (*path, "hysteresisPercent")),
        payback_days=b.fraction(raw.get("paybackDays", 7), (*path, "paybackDays")),
        max_reposts_per_day=raw.get("maxRepostsPerDay", PolicyKnobs.max_reposts_per_day),
    )
    for name, value in (("minGainPercent", knobs.min_gain_percent), ("hysteresisPercent", knobs.hysteresis_percent)):
        if value < 0:
            b.error((*path, name), f"{name} must not be negative")
    if knobs.payback_days <= 0:
        b.error((*path, "paybackDays"), "paybackDays must be above 0")
    per_day, source = raw.get("utilizedSecondsPerDay"), "declared"
    if per_day is None and floor_cm is not None and floor_cm.utilized_seconds_per_year is not None:
        per_day, source = floor_cm.utilized_seconds_per_year // 365, "cost model"
    if per_day is None:
        source = "measured"  # the planner measures it from the model's sessions on chain
    return MarketPolicy(
        ceiling=ceiling,
        utilized_seconds_per_day=per_day,
        utilisation_from=source,
        floor_price=floor_price,
        floor_cost_model=floor_cm,
        rank=raw.get("rank"),
        percentile=percentile,
        follow=follow,
        offset=offset,
        knobs=knobs,
    )


def _check_duplicates(b: _Builder, models: tuple[ModelSpec, ...]) -> None:
    seen: dict[str, ModelSpec] = {}
    for m in models:
        first = seen.get(m.model_id)
        if first is not None:
            what = f"model '{m.name or m.model_id}'" + (
                f" has the same on-chain id as '{first.name}'" if first.name != m.name else " is declared twice"
            )
            b.diags.append(Diagnostic(m.location, "models", f"duplicate model: {what} (also at {first.location})"))
        else:
            seen[m.model_id] = m


def _check_slots(
    b: _Builder, upstreams: tuple[UpstreamSpec, ...], models: tuple[ModelSpec, ...], raw: list[dict[str, Any]]
) -> None:
    for u in upstreams:
        if u.max_concurrency is None:
            continue
        on_it = [(i, m) for i, m in enumerate(models) if m.upstream == u.name and not m.absent]
        total = 0
        for i, m in on_it:
            path: Path_ = ("models", i)
            if m.concurrent_slots is None:
                b.error(
                    path,
                    f"model '{m.name or m.key}': concurrentSlots is required on upstream '{u.name}', which declares maxConcurrency {u.max_concurrency}",
                )
            elif m.concurrent_slots == 0:
                b.error(
                    (*path, "concurrentSlots"),
                    f"concurrentSlots 0 means unlimited, but upstream '{u.name}' supports only {u.max_concurrency} concurrent requests",
                )
            else:
                total += m.concurrent_slots
        if total > u.max_concurrency:
            names = ", ".join(f"{m.name or m.key} ({m.concurrent_slots})" for _, m in on_it if m.concurrent_slots)
            b.error(
                ("upstreams", u.name, "maxConcurrency"),
                f"the models on upstream '{u.name}' promise {total} concurrent slots ({names}), more than its maxConcurrency {u.max_concurrency}",
            )


def _proxy(b: _Builder, p: dict[str, Any]) -> ProxySpec:
    path: Path_ = ("proxy",)
    r = p.get("router")
    router = (
        RouterSpec(
            models_config_path=b.rel_path(r["modelsConfigPath"], (*path, "router", "modelsConfigPath")),
            url=r.get("url"),
            admin_url=r.get("adminUrl"),
            admin_auth=b.secret(r.get("adminAuth"), (*path, "router", "adminAuth"), Role.ROUTER_ADMIN),
        )
        if r
        else None
    )
    return ProxySpec(
        models_config_path=b.rel_path(p["modelsConfigPath"], (*path, "modelsConfigPath")),
        admin_url=p.get("adminUrl"),
        admin_token=b.secret(p.get("adminToken"), (*path, "adminToken"), Role.ADMIN),
        client_token=b.secret(p.get("clientToken"), (*path, "clientToken"), Role.CLIENT),
        forwarder_url=p.get("forwarderUrl"),
        router=router,
    )


def _policy(b: _Builder, p: dict[str, Any]) -> PolicySpec:
    c = p.get("bidChurn") or {}
    churn = ChurnGuard(
        min_price_change_percent=b.fraction(
            c.get("minPriceChangePercent", 5), ("policy", "bidChurn", "minPriceChangePercent")
        ),
        min_repost_interval_seconds=c.get("minRepostIntervalSeconds", 3600),
        reason=c.get("reason"),
    )
    guard_off = churn.min_price_change_percent == 0 and churn.min_repost_interval_seconds == 0
    if guard_off and not churn.reason:
        b.warn(("policy", "bidChurn"), "the bid churn guard is off; say why in policy.bidChurn.reason")
    spend = b.amount(p["maxSpendPerApply"], ("policy", "maxSpendPerApply")) if "maxSpendPerApply" in p else None
    alerts = p.get("alerts") or {}
    unserved = str(p.get("unserved", "alert"))
    if unserved != "withdraw":
        for key in ("unservedGraceSeconds", "unservedRepostAfterSeconds"):
            if key in p:
                b.warn(("policy", key), f"policy.{key} has no effect unless policy.unserved is withdraw")
    return PolicySpec(
        prune=bool(p.get("prune", False)),
        allow_empty=bool(p.get("allowEmpty", False)),
        max_spend_per_apply=spend,
        churn=churn,
        auto_claim=bool(p.get("autoClaim", False)),
        max_spend_per_day=_opt_amount(b, p, "maxSpendPerDay", ("policy", "maxSpendPerDay")),
        standing_allowance=None
        if p.get("allowance", "exact") == "exact"
        else b.amount(p["allowance"], ("policy", "allowance")),
        suspend=bool(p.get("suspend", False)),
        min_signer_eth=_opt_amount(b, alerts, "minSignerEth", ("policy", "alerts", "minSignerEth")),
        min_provider_mor=_opt_amount(b, alerts, "minProviderMor", ("policy", "alerts", "minProviderMor")),
        unserved=unserved,
        unserved_grace_seconds=int(p.get("unservedGraceSeconds", 600)),
        unserved_repost_after_seconds=int(p.get("unservedRepostAfterSeconds", 600)),
    )


def _opt_amount(b: _Builder, d: dict[str, Any], key: str, path: tuple[str, ...]) -> int | None:
    return b.amount(d[key], path) if key in d else None
