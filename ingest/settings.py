"""One settings class, validated once, read from the environment (and `.data/services.env` when present)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / ".data"


class Settings(BaseSettings):
    """Runtime configuration of gateway and workers; every field is an environment variable."""

    # Every variable is JIESU_<FIELD>; the four that deployments commonly set by convention also work bare.
    model_config = SettingsConfigDict(
        env_prefix="JIESU_", env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # Where the pipeline runs. Empty bootstrap servers = the in-process bus (embedded default).
    kafka_bootstrap_servers: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "JIESU_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers; empty = in-process bus",
    )
    database_url: str = Field(
        default="postgresql+asyncpg://jiesu@127.0.0.1:15432/jiesu",
        validation_alias=AliasChoices("DATABASE_URL", "JIESU_DATABASE_URL"),
        description="Postgres URL; the default is the Postgres that scripts/postgres.sh starts in .data/",
    )

    host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("HOST", "JIESU_HOST"), description="Listen address"
    )
    port: int = Field(
        default=8000, validation_alias=AliasChoices("PORT", "JIESU_PORT"), description="Listen port"
    )
    public_base_url: str = Field(default="", description="Base of status_url links; empty = relative links")

    # Gateway behaviour.
    produce_timeout_s: float = Field(
        default=2.0, gt=0, description="Budget for Kafka's ack before answering 503"
    )
    retry_after_s: int = Field(default=2, ge=1, description="Retry-After sent with 503")
    ticket_secret: str = Field(
        default="jiesu-dev-ticket-secret",
        description="Key that signs ticket ids (shared by all gateways; change in production)",
    )

    # Worker behaviour.
    consumer_group: str = Field(default="jiesu-intake", description="Kafka consumer group of intake workers")
    batch_max_records: int = Field(default=500, ge=1, description="Most records taken per batch")
    batch_timeout_ms: int = Field(default=200, ge=1, description="Longest wait to fill a batch")
    retry_backoff_s: float = Field(default=1.0, gt=0, description="Pause after a transient failure")
    dlq_max_per_window: int = Field(
        default=1000,
        ge=1,
        description="Dead letters allowed per window before the worker stops (a bad deploy)",
    )
    dlq_window_s: float = Field(default=60.0, gt=0, description="Window of the dead-letter cap")

    topic_prefix: str = Field(default="", description="Prefix of every topic name (e.g. per environment)")
    log_level: str = Field(default="INFO", description="Logging level")

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, url: str) -> str:
        """Accept plain postgresql:// URLs and use the asyncpg driver for them."""
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url[len(plain) :]
        return url

    @property
    def embedded_bus(self) -> bool:
        """True when no Kafka is configured and the in-process bus stands in for it."""
        return not self.kafka_bootstrap_servers


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def _env_names(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return " / ".join(f"`{choice}`" for choice in alias.choices if isinstance(choice, str))
    return f"`JIESU_{name.upper()}`"


def settings_table() -> str:
    """The configuration table of README.md, generated from the Settings fields."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else "(empty)"
        lines.append(f"| {_env_names(name, field)} | `{default}` | {field.description or ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
