"""Settings: the one place that reads the environment.

Every value but the secrets has a working local default for development; `load_settings()` is
called at the edges (app factory, Celery factory, CLI) and the result is passed
down. Nothing here connects to anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

import limits

HOLD_MIN_SECONDS = 60  # the shortest hold the contract allows


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says what to set."""


# Values that were once published (in this repository or its examples): never accepted.
KNOWN_EXAMPLE_SECRETS = frozenset(
    {"dev-only-secret-change-me-0123456789abcdef", "change-me", "changeme", "secret"}
)
KNOWN_EXAMPLE_PASSWORDS = frozenset({"admin", "password", "changeme", "change-me", "flower"})


@dataclass(frozen=True)
class Settings:
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/rail"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A PostgreSQL read replica for the conductor's questions (manifest, passengers, seats,
    # occupancy); empty: they read the primary. Its answers lag by the replica's delay.
    database_replica_url: str = ""
    # No default: `make run` and the tests generate one (see require_secrets).
    jwt_secret: str = ""
    # The longest a token may live (exp - iat), in seconds.
    jwt_max_lifetime_seconds: int = 86400
    # An identity provider's public key (a PEM value or the path of a PEM file): when set,
    # tokens are RS256/ES256/EdDSA signed with it and HS256 tokens are refused.
    jwt_public_key: str = ""
    # When set, tokens must carry this `iss` / this `aud`.
    jwt_issuer: str = ""
    jwt_audience: str = ""
    booking_horizon_days: int = 180
    # The worker: how long a claimed job is ours, how many attempts before it fails.
    job_lease_seconds: int = 60
    job_max_attempts: int = 5
    # Jobs of one departure served in one transaction (1 turns batching off).
    allocation_batch_size: int = 50
    # How long one worker may keep a departure's lock serving its queue.
    allocation_time_budget_seconds: float = 10.0
    # "departure": one message wakes a departure, and jobs accepted while it is woken or
    # being served send none (storage/wake_ups.py); "job": one message per job, as before
    # (for comparison in bench/). The mark of a woken departure lapses after the TTL.
    allocation_wake_ups: str = "departure"
    wake_up_ttl_seconds: float = 10.0
    # Timeouts nest: lock_timeout < statement_timeout < lock TTL < task limit < visibility.
    pg_lock_timeout_ms: int = 2000
    pg_statement_timeout_ms: int = 5000
    departure_lock_ttl_seconds: int = 30
    departure_lock_wait_seconds: float = 0.5
    task_time_limit_seconds: int = 120
    broker_visibility_timeout_seconds: int = 3600
    # The sweeper: how often it runs and how long a queued job may wait unnoticed.
    sweep_interval_seconds: float = 5.0
    sweep_queued_after_seconds: float = 5.0
    # Retention: an Idempotency-Key answers with its first job this long (at least 24 h);
    # the passengers' names leave the job bodies this many days after the departure
    # (bookings keep theirs; the history never had them). The task runs every interval.
    idempotency_retention_hours: float = 48.0
    personal_data_retention_days: int = 30
    retention_interval_seconds: float = 3600.0
    # The directory where every web and worker process writes its Prometheus figures
    # (prometheus_client reads PROMETHEUS_MULTIPROC_DIR itself); empty: each its own.
    prometheus_multiproc_dir: str = ""
    # Rate limits ("off" for none), in `limits` notation: see web/ratelimit.py. Sized so
    # that the load benchmark's clients (one address, one subject each) never meet them.
    rate_limit_auth_failures: str = "20/minute"
    rate_limit_submit: str = "10/second"
    rate_limit_poll: str = "50/second"
    rate_limit_read: str = "20/second"
    # Quotas per client (an operator sets a client's own: GET/PUT /v1/clients/{id}/quotas);
    # an operator booking for a client has at least the operator figures.
    quota_passengers_per_booking: int = 9
    quota_bookings_per_batch: int = 50
    quota_seats_per_departure: int = 20
    quota_open_jobs: int = 200
    quota_operator_passengers_per_booking: int = 50
    quota_operator_bookings_per_batch: int = 1000
    quota_operator_seats_per_departure: int = 1000
    quota_operator_open_jobs: int = 5000
    # Proxies in front of the API whose X-Forwarded-For is trusted for the client's
    # address (1: nginx, as `make run` and docker compose deploy it; 0: none).
    trusted_proxy_hops: int = 1
    # Host names the API answers to, comma-separated (".example.com": it and its
    # subdomains; the port is not compared); another Host is refused with a 400. Empty: any.
    # /healthz, /readyz and /metrics answer whatever the Host (health checks, scrapers).
    trusted_hosts: str = ""
    # GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, it is refused to
    # everyone (`make run` keeps a generated one in .run/metrics_token). See web/ops.py.
    metrics_token: str = ""
    # Every process logs one JSON object per line ("json") or human-readable lines
    # ("console", what `make run` uses); LOG_LEVEL is the least level written (the Celery
    # processes take theirs from --loglevel). See logs.py.
    log_format: str = "json"
    log_level: str = "INFO"
    # Webhooks: a URL on a loopback, private, link-local or metadata address is refused
    # unless this is set (`make run` sets it, for receivers on this machine); each attempt
    # gives up after the timeout (to connect, then to answer); failed ones are tried again
    # with exponential backoff (base, doubling up to the largest delay) for the retry
    # window (at least 24 hours); a worker holds a delivery for the lease at most.
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 5.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_delay_seconds: float = 4 * 3600.0
    webhook_retry_hours: float = 24.0
    webhook_lease_seconds: float = 30.0
    # Delivered and given-up deliveries leave the delivery log this many days after their
    # event (beat's `webhooks.purge`, every RETENTION_INTERVAL_SECONDS); pending ones stay.
    webhook_log_retention_days: int = 30
    # Holds: a booking may hold its seats for 60 s to HOLD_MAX_SECONDS, be extended at most
    # HOLD_MAX_EXTENSIONS times, and never hold past HOLD_MAX_TOTAL_SECONDS after it was
    # seated. Beat's `bookings.expire_holds` (every HOLD_SWEEP_INTERVAL_SECONDS) marks the
    # expired ones and warns a minute before (hold.expiring); their seats are free at the
    # instant of expiry whatever it does.
    hold_max_seconds: int = 900
    hold_max_extensions: int = 3
    hold_max_total_seconds: int = 3600
    hold_sweep_interval_seconds: float = 10.0
    flower_user: str = "admin"
    flower_password: str = ""
    extra: dict[str, str] = field(default_factory=dict)


_ENV_NAMES = {f.name: f.name.upper() for f in fields(Settings) if f.name != "extra"}


def load_settings(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from the environment (or `environ`), then `overrides`."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(_ENV_NAMES[f.name])
        if raw is None or raw == "":
            continue
        values[f.name] = _convert(f.name, f.type, raw)
    values.update(overrides)
    for name in ("database_url", "database_replica_url"):
        if values.get(name):
            values[name] = sqlalchemy_url(str(values[name]))
    settings = Settings(**values)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _convert(name: str, type_name: object, raw: str) -> object:
    if type_name in ("bool", bool):
        lowered = raw.strip().lower()
        if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise SettingsError(f"{name.upper()} must be 1 or 0 (true or false), got {raw!r}")
        return lowered in ("1", "true", "yes", "on")
    try:
        if type_name in ("int", int):
            return int(raw)
        if type_name in ("float", float):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name.upper()} must be a number, got {raw!r}") from None
    return raw


def _check_retention(s: Settings) -> None:
    if s.idempotency_retention_hours < 24:
        raise SettingsError("IDEMPOTENCY_RETENTION_HOURS must be at least 24")
    if s.personal_data_retention_days < 1:
        raise SettingsError("PERSONAL_DATA_RETENTION_DAYS must be at least 1")


def _check(s: Settings) -> None:
    if not s.database_url.startswith("postgresql"):
        raise SettingsError("DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg://...)")
    if s.database_replica_url and not s.database_replica_url.startswith("postgresql"):
        raise SettingsError("DATABASE_REPLICA_URL must be a PostgreSQL URL, or empty")
    _check_retention(s)
    if not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("REDIS_URL must be a Redis URL (redis://host:port/db)")
    for name in ("auth_failures", "submit", "poll", "read"):
        value = getattr(s, f"rate_limit_{name}")
        if value.strip().lower() != "off":
            try:
                limits.parse_many(value)
            except ValueError:
                raise SettingsError(
                    f"RATE_LIMIT_{name.upper()} must be like '10/second;600/minute' or 'off'"
                ) from None
    if s.trusted_proxy_hops < 0:
        raise SettingsError("TRUSTED_PROXY_HOPS must not be negative")
    _check_metrics_token(s.metrics_token)
    if s.flower_password in KNOWN_EXAMPLE_PASSWORDS:
        raise SettingsError("FLOWER_PASSWORD is a published example value: choose another")
    if s.booking_horizon_days < 0:
        raise SettingsError("BOOKING_HORIZON_DAYS must not be negative")
    _check_allocation(s)
    _check_holds(s)
    _check_logs(s)
    _check_webhooks(s)


def _check_allocation(s: Settings) -> None:
    if s.allocation_batch_size < 1:
        raise SettingsError("ALLOCATION_BATCH_SIZE must be at least 1")
    if s.allocation_wake_ups not in ("departure", "job"):
        raise SettingsError("ALLOCATION_WAKE_UPS must be 'departure' or 'job'")
    if s.wake_up_ttl_seconds <= 0:
        raise SettingsError("WAKE_UP_TTL_SECONDS must be positive")


def _check_holds(s: Settings) -> None:
    if s.hold_max_seconds < HOLD_MIN_SECONDS:
        raise SettingsError(f"HOLD_MAX_SECONDS must be at least {HOLD_MIN_SECONDS}")
    if s.hold_max_extensions < 0:
        raise SettingsError("HOLD_MAX_EXTENSIONS must not be negative")
    if s.hold_max_total_seconds < s.hold_max_seconds:
        raise SettingsError("HOLD_MAX_TOTAL_SECONDS must be at least HOLD_MAX_SECONDS")
    if s.hold_sweep_interval_seconds <= 0:
        raise SettingsError("HOLD_SWEEP_INTERVAL_SECONDS must be positive")


def _check_webhooks(s: Settings) -> None:
    if s.webhook_retry_hours < 24:
        raise SettingsError("WEBHOOK_RETRY_HOURS must be at least 24")
    if not 0 < s.webhook_timeout_seconds <= 60:
        raise SettingsError("WEBHOOK_TIMEOUT_SECONDS must be more than 0 and at most 60")
    if s.webhook_retry_base_seconds <= 0:
        raise SettingsError("WEBHOOK_RETRY_BASE_SECONDS must be more than 0")
    if s.webhook_retry_max_delay_seconds < s.webhook_retry_base_seconds:
        raise SettingsError("WEBHOOK_RETRY_MAX_DELAY_SECONDS must be at least the base")
    if s.webhook_lease_seconds <= 2 * s.webhook_timeout_seconds:
        raise SettingsError("WEBHOOK_LEASE_SECONDS must be more than twice the timeout")
    if s.webhook_log_retention_days < 1:
        raise SettingsError("WEBHOOK_LOG_RETENTION_DAYS must be at least 1")


def _check_logs(s: Settings) -> None:
    if s.log_format not in ("json", "console"):
        raise SettingsError("LOG_FORMAT must be 'json' or 'console'")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")


def _check_metrics_token(token: str) -> None:
    if token and len(token) < 16:
        raise SettingsError("METRICS_TOKEN must be at least 16 characters long, or unset")
    if token in KNOWN_EXAMPLE_SECRETS:
        raise SettingsError("METRICS_TOKEN is a published example value: generate your own")


def require_secrets(s: Settings) -> None:
    """The API and the workers refuse to start without a way to check tokens of their own:
    a JWT_SECRET, or an identity provider's JWT_PUBLIC_KEY.

    Checked where a process starts serving, not in load_settings: migrations and
    benchmarks read settings without needing the secret.
    """
    if s.jwt_max_lifetime_seconds < 1:
        raise SettingsError("JWT_MAX_LIFETIME_SECONDS must be at least 1")
    if s.jwt_public_key:
        load_jwt_public_key(s.jwt_public_key)  # tokens come from the identity provider
        return
    if not s.jwt_secret:
        raise SettingsError(
            "JWT_SECRET is not set: set one of at least 32 random characters "
            "(`make run` keeps a generated one in .run/jwt_secret), or set JWT_PUBLIC_KEY"
        )
    if len(s.jwt_secret) < 32:
        raise SettingsError("JWT_SECRET must be at least 32 characters long")
    if s.jwt_secret in KNOWN_EXAMPLE_SECRETS:
        raise SettingsError("JWT_SECRET is a published example value: generate your own")


def load_jwt_public_key(value: str) -> tuple[object, str]:
    """JWT_PUBLIC_KEY (a PEM value, or the path of a PEM file) as a key and its one algorithm.

    Only an RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA) public key is accepted.
    """
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    text = value.strip()
    if not text.startswith("-----BEGIN"):
        try:
            text = Path(text).read_text(encoding="utf-8").strip()
        except (OSError, ValueError) as exc:
            raise SettingsError(
                "JWT_PUBLIC_KEY must be a PEM public key or the path of a PEM file: "
                f"cannot read {text[:200]!r} ({type(exc).__name__})"
            ) from None
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")  # a PEM value put in one line of an env file
    try:
        key = load_pem_public_key(text.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"JWT_PUBLIC_KEY does not hold a PEM public key that loads: {exc}"
        ) from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise SettingsError("JWT_PUBLIC_KEY is an RSA key of fewer than 2048 bits")
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, "EdDSA"
    raise SettingsError(
        "JWT_PUBLIC_KEY must be an RSA, EC P-256 or Ed25519 public key "
        f"(for RS256, ES256 or EdDSA), not {type(key).__name__}"
    )


def sqlalchemy_url(url: str) -> str:
    """Make a plain postgresql:// URL use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
