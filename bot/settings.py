"""All configuration, read once from the environment and ``.env`` and passed to whoever needs it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.embedding import DEFAULT_MODEL
from index.errors import PeerbotError
from index.search import RankingConfig

_DEFAULT_RANKING = RankingConfig()
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class SettingsInvalid(PeerbotError):
    """The settings do not validate; ``problems`` names each wrong setting and why."""

    def __init__(self, problems: str):
        self.problems = problems
        super().__init__(f"invalid settings ({problems}); fix the environment or .env")


def load_settings() -> Settings:
    """The settings from the environment and ``.env``; SettingsInvalid says which are wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsInvalid("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True)

    knowledge_dir: Path = Field(
        Path("knowledge"), validation_alias=AliasChoices("PEERBOT_KNOWLEDGE_DIR", "knowledge_dir")
    )
    data_dir: Path = Field(Path("data"), validation_alias=AliasChoices("PEERBOT_DATA_DIR", "data_dir"))
    # Where the converted default model is cached; the Docker image keeps it outside the data volume.
    model_dir: Path | None = Field(None, validation_alias=AliasChoices("PEERBOT_MODEL_DIR", "model_dir"))
    embedding_model: str = Field(
        DEFAULT_MODEL, validation_alias=AliasChoices("PEERBOT_EMBEDDING_MODEL", "embedding_model")
    )
    top_k: int = Field(3, ge=1, le=10, validation_alias=AliasChoices("PEERBOT_TOP_K", "top_k"))
    min_dense_score: float = Field(
        _DEFAULT_RANKING.min_dense_score, validation_alias=AliasChoices("PEERBOT_MIN_DENSE_SCORE", "min_dense_score")
    )
    min_centred_score: float = Field(
        _DEFAULT_RANKING.min_centred_score,
        validation_alias=AliasChoices("PEERBOT_MIN_CENTRED_SCORE", "min_centred_score"),
    )
    # How long a chat's last question is kept to read a short follow-up with ("and in Hrastnik?"); 0 turns it off.
    followup_minutes: float = Field(
        10.0, ge=0, le=24 * 60, validation_alias=AliasChoices("PEERBOT_FOLLOWUP_MINUTES", "followup_minutes")
    )
    # Answerability's probability floor (index/answerability.py) for the model it was fitted for.
    min_confidence: float = Field(
        _DEFAULT_RANKING.min_confidence,
        ge=0.0,
        le=1.0,
        validation_alias=AliasChoices("PEERBOT_MIN_CONFIDENCE", "min_confidence"),
    )
    log_level: str = Field("INFO", validation_alias=AliasChoices("PEERBOT_LOG_LEVEL", "log_level"))

    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "telegram_bot_token")
    )
    telegram_api_base: str = Field(
        "https://api.telegram.org", validation_alias=AliasChoices("TELEGRAM_API_BASE", "telegram_api_base")
    )
    # Telegram user ids; "*" in allowed_users lets everyone in.
    allowed_users: Annotated[list[str], NoDecode] = Field(
        [], validation_alias=AliasChoices("PEERBOT_ALLOWED_USERS", "allowed_users")
    )
    admins: Annotated[list[int], NoDecode] = Field([], validation_alias=AliasChoices("PEERBOT_ADMINS", "admins"))
    coordinators: Annotated[list[int], NoDecode] = Field(
        [], validation_alias=AliasChoices("PEERBOT_COORDINATORS", "coordinators")
    )
    # Messages and button presses per user per minute; more get a friendly "please wait".
    rate_limit_per_minute: int = Field(
        20, ge=1, validation_alias=AliasChoices("PEERBOT_RATE_LIMIT", "rate_limit_per_minute")
    )
    # "Ask the team": questions an official may send to the coordinators in any 24 hours.
    team_questions_per_day: int = Field(
        3, ge=0, le=100, validation_alias=AliasChoices("PEERBOT_TEAM_QUESTIONS_PER_DAY", "team_questions_per_day")
    )
    # Webhook mode (peerbot run --webhook-url): Telegram POSTs updates to this public HTTPS URL;
    # the bot listens on listen:port (behind a reverse proxy) and rejects posts without the secret.
    webhook_url: str | None = Field(None, validation_alias=AliasChoices("PEERBOT_WEBHOOK_URL", "webhook_url"))
    webhook_listen: str = Field("127.0.0.1", validation_alias=AliasChoices("PEERBOT_WEBHOOK_LISTEN", "webhook_listen"))
    webhook_port: int = Field(
        8443, ge=1, le=65535, validation_alias=AliasChoices("PEERBOT_WEBHOOK_PORT", "webhook_port")
    )
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("PEERBOT_WEBHOOK_SECRET", "webhook_secret")
    )

    # How long the outbox retries a message Telegram has not taken (seconds), across restarts.
    outbox_max_age: float = Field(
        3600.0, ge=1, validation_alias=AliasChoices("PEERBOT_OUTBOX_MAX_AGE", "outbox_max_age")
    )
    # `peerbot dashboard`: the password every page asks for; required to bind beyond loopback.
    dashboard_password: SecretStr | None = Field(
        None, validation_alias=AliasChoices("PEERBOT_DASHBOARD_PASSWORD", "dashboard_password")
    )

    @field_validator("allowed_users", "admins", "coordinators", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("allowed_users")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            if item != "*" and not str(item).lstrip("-").isdigit():
                raise ValueError(f"'{item}' is not a Telegram user id (numbers separated by commas, or * for everyone)")
        return [str(item) for item in value]

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"'{value}' is not a URL (Telegram needs https://host[:port]/path)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule for secret_token)")
        return value

    @field_validator("dashboard_password")
    @classmethod
    def _dashboard_password(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"'{value}' is not a log level (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
        return value

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    def ranking(self) -> RankingConfig:
        return _DEFAULT_RANKING.variant(
            min_dense_score=self.min_dense_score,
            min_centred_score=self.min_centred_score,
            min_confidence=self.min_confidence,
        )
