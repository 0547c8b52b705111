"""Settings: the only reader of the environment (and of a `.env` file).

Every name in DESIGN.md's table maps to a field here; unset means the embedded default
(fakeredis, the console sender, the built-in sandboxes for every upstream service).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Every upstream service: the one list; everything else iterates over `SERVICES`.
Service = Literal["twilio", "telesign", "p2a", "wevote", "whatcounts", "quorum"]
SERVICES: tuple[Service, ...] = get_args(Service)


@dataclass(frozen=True)
class ServiceSpec:
    """What the settings know of one service: its public base URL (None: every customer has
    its own site, as with WhatCounts) and the fields that must all be set to use it for real."""

    public_base: str | None
    credentials: tuple[str, ...]


SERVICE_SPECS: dict[Service, ServiceSpec] = {
    "twilio": ServiceSpec("https://api.twilio.com", ("twilio_account_sid", "twilio_auth_token")),
    "telesign": ServiceSpec("https://rest-ww.telesign.com",
                            ("telesign_customer_id", "telesign_api_key")),
    "p2a": ServiceSpec("https://api.phone2action.com/2.0", ("p2a_app_id", "p2a_app_key")),
    "wevote": ServiceSpec("https://api.wevoteusa.org/apis/v1", ("wevote_api_key",)),
    "whatcounts": ServiceSpec(None, ("whatcounts_user", "whatcounts_password")),
    "quorum": ServiceSpec("https://www.quorum.us/api", ("quorum_username", "quorum_api_key")),
}

#: The defaults of a service without credentials of its own: the fixed credentials the
#: built-in sandboxes accept, by settings field. Public on purpose: never a real account.
SANDBOX_DEFAULTS: dict[str, str] = {
    "twilio_account_sid": "ACsandbox",
    "twilio_auth_token": "sandbox-token",
    "twilio_from": "+15005550006",  # Twilio's documented "valid From" magic number
    "telesign_customer_id": "SANDBOX0-0000-0000-0000-000000000000",
    "telesign_api_key": base64.b64encode(b"civictext-sandbox-telesign-key!!").decode("ascii"),
    "p2a_app_id": "sandbox-app",
    "p2a_app_key": "sandbox-key",
    "wevote_api_key": "sandbox-wevote-key",
    "whatcounts_user": "sandbox-realm",
    "whatcounts_password": "sandbox-password",
    "whatcounts_sender_code": "2025550199",
    "whatcounts_group": "civictext",
    "quorum_username": "sandbox",
    "quorum_api_key": "sandbox-api-key",
}

#: Where the sandboxes are mounted on the bot's own server (`/sandbox/<service>`).
SANDBOX_PREFIX = "/sandbox"


class Settings(BaseSettings):
    """All configuration, built once in `__main__` and passed down (tests build their own)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- server and storage -------------------------------------------------------------
    port: int = Field(8080, description="HTTP port of `python -m bot serve`.")
    host: str = Field("0.0.0.0", description="Interface the server binds to.")
    redis_url: str | None = Field(
        None, description="Unset: in-process fakeredis. Set: a real Redis (redis://...)."
    )
    redis_pool_size: int = Field(64, description="Redis connections per process (blocking pool).")
    redis_pool_timeout: float = Field(
        5.0, description="Seconds an inbound waits for a free Redis connection before 503."
    )
    redis_cluster: bool | None = Field(
        None, description="`true`: `REDIS_URL` names a node of a Redis Cluster; unset: detected "
        "from `INFO cluster`."
    )
    redis_wait_replicas: int = Field(
        0, ge=0, description="Commits wait (`WAIT`, bounded) for this many replicas before the "
        "webhook's 200; 0: no wait."
    )
    redis_wait_timeout_ms: int = Field(
        500, ge=1, description="How long a commit waits for `REDIS_WAIT_REPLICAS` (then 503)."
    )
    redis_shards: int = Field(
        48, ge=1, description="Hash-tag shards: keys of one phone share `{sN}`; one outbox per "
        "shard. 48 spread evenly over 2, 3, 4 or 6 cluster masters. Fixed for the life of a "
        "deployment (see docs/deploy.md)."
    )
    conversation_ttl: int = Field(
        30 * 24 * 3600, description="Seconds a quiet conversation lives (opt-outs never expire)."
    )
    flow_path: Path = Field(Path("flows"), description="A flow file or a folder of flows.")
    public_base_url: str | None = Field(
        None, description="The URL the provider calls; used to check signatures behind a proxy."
    )
    log_level: str = Field("INFO", description="Log level (DEBUG, INFO, WARNING...).")
    log_json: bool = Field(False, description="Log JSON lines instead of console key=values.")

    # --- messaging ----------------------------------------------------------------------
    sms_sender: Literal["console", "twilio", "telesign", "quorum"] = Field(
        "console", description="Which sender delivers outgoing texts."
    )
    sms_from: str | None = Field(
        None, description="The bot's own number, or a Twilio Messaging Service SID (MG...)."
    )
    verify_provider: Literal["telesign", "wevote", "local"] = Field(
        "telesign", description="Who sends and checks the one-time verification codes."
    )
    verify_code_ttl: int = Field(600, description="Seconds a verification code stays valid.")
    verify_max_tries: int = Field(3, description="Wrong codes allowed before the code is void.")
    verify_resend_cooldown: int = Field(60, description="Seconds before RESEND sends a new code.")
    verify_secret: SecretStr | None = Field(
        None, description="Key for hashing the codes the bot makes (set it in production)."
    )
    quiet_hours_start: int = Field(21, ge=0, le=23, description="Voter-local hour reminders stop.")
    quiet_hours_end: int = Field(8, ge=0, le=23, description="Voter-local hour reminders resume.")
    campaigns_per_page: int = Field(5, description="Campaigns per menu page (MORE pages on).")
    default_region: str = Field("US", description="Region for numbers without a country code.")
    provider_handles_keywords: bool = Field(
        False,
        description=(
            "The SMS provider answers STOP/HELP/START itself (Twilio's default opt-out "
            "handling): we record and act, but send no confirmation of our own."
        ),
    )
    flow_max_auto_steps: int = Field(
        25, ge=1, description="States a conversation may enter between two texts of the voter "
        "before it is ended with an apology (a flow looping on its own).")
    flow_max_actions_per_hour: int = Field(
        30, ge=1, description="Actions one conversation may call in an hour before it is "
        "ended with an apology (no conversation can hammer an upstream).")
    program_name: str = Field("civictext", description="Program name used in HELP/STOP texts.")

    # --- abuse and cost -----------------------------------------------------------------
    sms_countries: str = Field(
        "US", description="Countries (ISO codes, comma-separated) texts and codes may go to; "
                          "a text from elsewhere gets one short answer and nothing else.")
    verify_codes_per_hour: int = Field(5, description="Verification codes one phone may get "
                                                      "in an hour.")
    verify_codes_per_day: int = Field(10, description="Verification codes one phone may get "
                                                      "in a day.")
    verify_codes_per_minute: int = Field(
        60, description="Verification codes all phones together may get in a minute; past it "
                        "a breaker pauses code sends for VERIFY_BREAKER_SECONDS.")
    verify_breaker_seconds: int = Field(300, description="How long the code breaker pauses.")
    allow_unsigned_webhooks: bool = Field(
        False, description="Start with provider credentials but no way to check the "
                           "provider's webhook signatures (never in production).")
    help_contact: str | None = Field(
        None,
        description=(
            "How a voter gets help: a phone, e-mail or URL named in HELP answers. Unset: HELP "
            "names none, and the server and `flows check` warn."
        ),
    )

    sms_rate: float | None = Field(
        None, gt=0,
        description=("Outbound texts per second for the sender, shared by every worker "
                     "(a short code about 100, a 10DLC campaign far less); unset: no limit."),
    )

    broadcast_monthly_cap: int | None = Field(
        None, ge=1,
        description=("Broadcasts a phone may get per month; unset: the smallest "
                     "'N msgs/month' of the opt-in texts (what the voter agreed to)."),
    )
    admin_password: SecretStr | None = Field(
        None, description="Enables the organiser's console at /admin; unset: it is off."
    )
    admin_secret: SecretStr | None = Field(
        None, description="Key that signs console sessions (default: derived from the password)."
    )

    # --- worker -------------------------------------------------------------------------
    run_worker: bool = Field(True, description="Run the outbox worker inside the web process.")
    worker_concurrency: int = Field(256, description="Effects a worker runs at once.")
    worker_max_tries: int = Field(6, description="Tries of one effect before the dead letter.")
    worker_lease_ms: int = Field(
        10_000, ge=200, description="Each outbox shard is read by one worker at a time, under "
        "a lease of this many ms: a dead worker's shards are taken over this long after it died."
    )
    worker_claim_idle_ms: int = Field(
        30_000, description="An entry unacknowledged this long is claimed from its consumer."
    )

    # --- upstream credentials and bases -------------------------------------------------
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base: str | None = None
    telesign_customer_id: str | None = None
    telesign_api_key: SecretStr | None = None
    telesign_api_base: str | None = None
    p2a_app_id: str | None = None
    p2a_app_key: SecretStr | None = None
    p2a_api_base: str | None = None
    wevote_api_key: SecretStr | None = None
    wevote_api_base: str | None = None
    whatcounts_user: str | None = None
    whatcounts_password: SecretStr | None = None
    whatcounts_api_base: str | None = None
    whatcounts_sender_code: str | None = None
    whatcounts_group: str | None = None
    quorum_username: str | None = None
    quorum_api_key: SecretStr | None = None
    quorum_api_base: str | None = None
    upstream_timeout: float = Field(10.0, description="Seconds for one upstream HTTP call.")
    upstream_breaker_failures: int = Field(
        5, ge=1, description="Failures in a row (5xx, timeout, connection error) that open a "
                             "service's circuit breaker: its calls are then refused at once.")
    upstream_breaker_seconds: float = Field(
        30.0, gt=0, description="How long an open breaker refuses calls before one probe.")
    webhook_targets: dict[str, str] = Field(
        default_factory=dict, description="Where a flow's `webhook` action may post, by name: "
        'JSON like {"petition_sheet": "https://crm.example.org/hooks/sign"}.')
    webhook_secret: SecretStr | None = Field(
        None, description="Key of the HMAC-SHA256 signature on every webhook body (set it; "
        "unset, a fixed development key is used and a warning logged).")
    webhook_timeout: float = Field(10.0, description="Seconds for one webhook call.")

    @property
    def countries(self) -> frozenset[str]:
        """`SMS_COUNTRIES` as a set of upper-case ISO codes."""
        return frozenset(c.strip().upper() for c in self.sms_countries.split(",") if c.strip())

    def has_credentials(self, service: Service) -> bool:
        """True when the service's credentials are all set (so it may go to the real API)."""
        return all(getattr(self, name) is not None for name in SERVICE_SPECS[service].credentials)

    def credential(self, service: Service, name: str) -> str:
        """`{service}_{name}` as plain text when the service has all its own credentials,
        else the sandbox's default (`SANDBOX_DEFAULTS`)."""
        key = f"{service}_{name}"
        value = getattr(self, key, None) if self.has_credentials(service) else None
        if value is None:
            return SANDBOX_DEFAULTS[key]
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def explicit_base(self, service: Service) -> str | None:
        """The `*_API_BASE` the deployer set for a service, if any."""
        value: str | None = getattr(self, f"{service}_api_base")
        return value.rstrip("/") if value else None

    def stand_in_webhooks(self) -> bool:
        """The embedded default: no WEBHOOK_TARGETS, no WEBHOOK_SECRET and every service on
        its sandbox, so a flow's `webhook` targets go to the sandbox's stand-in receiver."""
        return (not self.webhook_targets and self.webhook_secret is None
                and all(self.uses_sandbox(service) for service in SERVICES))

    def uses_sandbox(self, service: Service) -> bool:
        """A service with no explicit base and no credentials talks to the built-in sandbox."""
        return self.explicit_base(service) is None and not self.has_credentials(service)

    def api_base(self, service: Service, sandbox_root: str) -> str:
        """Resolve a service's base URL: explicit, else public with credentials, else sandbox.

        `sandbox_root` is where the sandboxes are served (e.g. `http://127.0.0.1:8080/sandbox`).
        """
        explicit = self.explicit_base(service)
        if explicit:
            return explicit
        public = SERVICE_SPECS[service].public_base
        if self.has_credentials(service) and public:
            return public
        return f"{sandbox_root.rstrip('/')}/{service}"
