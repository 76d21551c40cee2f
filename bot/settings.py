"""The bot's settings: the chat platforms apart from the recommender's paths and knobs
and from the retraining and backup schedules.

:class:`BotSettings` reads the environment and ``.env`` once and holds four parts: the
recommender's :class:`recommender.settings.Settings`, the chats' :class:`ChatSettings`,
retraining's :class:`jobs.settings.RetrainSettings` and the nightly backup's
:class:`jobs.settings.BackupSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs.settings import BackupSettings, JobSettings, RetrainSettings
from recommender.errors import RecommenderError
from recommender.settings import Settings, env_int, read_env


@dataclass(frozen=True)
class ChatSettings:
    """Tokens, the Telegram API address and the admins. Build with :meth:`from_env`."""

    # Secrets: kept out of repr so they never reach a log line or a traceback.
    telegram_token: str | None = field(default=None, repr=False)
    telegram_api_base_url: str | None = None
    discord_token: str | None = field(default=None, repr=False)
    admin_ids: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ChatSettings:
        """TELEGRAM_TOKEN, TELEGRAM_API_BASE_URL, DISCORD_TOKEN and ADMIN_IDS (comma or
        space separated) of ``env``."""
        return cls(
            telegram_token=(env.get("TELEGRAM_TOKEN") or "").strip() or None,
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL") or None,
            discord_token=(env.get("DISCORD_TOKEN") or "").strip() or None,
            admin_ids=tuple(a for a in (env.get("ADMIN_IDS") or "").replace(",", " ").split()),
        )

    @property
    def platforms(self) -> list[str]:
        """The chats to serve: "telegram" and/or "discord" by their tokens, else "console"."""
        found = [name for name, token in (("telegram", self.telegram_token),
                                          ("discord", self.discord_token)) if token]
        return found or ["console"]


@dataclass(frozen=True)
class BotSettings:
    """The one settings object of the bot process, four flat parts: the recommender's,
    the chats', retraining's and the backup's. :attr:`jobs` gathers all but the chats'
    as the :class:`jobs.settings.JobSettings` the retraining service takes."""

    recommender: Settings = field(default_factory=Settings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    retrain: RetrainSettings = field(default_factory=RetrainSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> BotSettings:
        """All four parts from ``env``, by default the environment over ``.env``, read
        once."""
        env = read_env() if env is None else env
        recommender = Settings.from_env(env)
        return cls(recommender=recommender, chat=ChatSettings.from_env(env),
                   retrain=RetrainSettings.from_env(env),
                   backup=BackupSettings.from_env(env, recommender.data_dir))

    @property
    def jobs(self) -> JobSettings:
        """Every part but the chats', for :mod:`jobs` (no chat secrets)."""
        return JobSettings(recommender=self.recommender, retrain=self.retrain,
                           backup=self.backup)


@dataclass(frozen=True)
class WebSettings:
    """Where the web app (``make web``, ``python -m bot --web``) listens: WEB_ADDRESS
    (default 127.0.0.1, only this machine; 0.0.0.0 in a container) and WEB_PORT (8501)."""

    address: str = "127.0.0.1"
    port: int = 8501

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WebSettings:
        env = read_env() if env is None else env
        port = env_int(env, "WEB_PORT", 8501, minimum=1)
        if port > 65535:
            raise RecommenderError(f"WEB_PORT must be a port number (1-65535), got {port}.")
        return cls(address=(env.get("WEB_ADDRESS") or "127.0.0.1").strip(), port=port)
