"""The jobs' settings: when and how retraining and backups run, apart from the recommender's.

:class:`RetrainSettings` holds the schedule and the retraining knobs (``RETRAIN_CRON``,
``RETRAIN_TIMEZONE``, ``RETRAIN_MISSED``, ``RETRAIN_MAX_DROP``, ``RETRAIN_TIMEOUT``,
``KEEP_MODELS``); :class:`BackupSettings` the nightly database backup's (``BACKUP_CRON``,
read in ``RETRAIN_TIMEZONE``, ``BACKUP_KEEP``, ``BACKUP_DIR``); :class:`JobSettings` is
the one settings object of a ``python -m jobs`` process: the recommender's
:class:`recommender.settings.Settings` and those, read from the environment and ``.env``
once. The bot holds the same parts in :class:`bot.settings.BotSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recommender.settings import Settings, env_choice, env_float, env_int, read_env

MISSED = ("run", "skip")


@dataclass(frozen=True)
class RetrainSettings:
    """The schedule and the knobs of retraining. Build with :meth:`from_env`."""

    cron: str = "0 3 * * *"  # a crontab line, read in ``timezone``; "off" disables it
    timezone: str = "UTC"
    missed: str = "run"  # a run missed while the bot was down: "run" once, or "skip"
    max_drop: float = 0.02  # largest allowed fall in held-out nDCG@10 (and new-user)
    timeout: int = 7200  # seconds before a training is killed
    keep_models: int = 5  # model versions kept (the current one is never deleted)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> RetrainSettings:
        """RETRAIN_CRON, RETRAIN_TIMEZONE, RETRAIN_MISSED, RETRAIN_MAX_DROP, RETRAIN_TIMEOUT
        and KEEP_MODELS of ``env``; a bad value raises :class:`RecommenderError`."""
        return cls(
            cron=(env.get("RETRAIN_CRON") or "0 3 * * *").strip(),
            timezone=(env.get("RETRAIN_TIMEZONE") or "UTC").strip(),
            missed=env_choice(env, "RETRAIN_MISSED", MISSED),
            max_drop=env_float(env, "RETRAIN_MAX_DROP", 0.02),
            timeout=env_int(env, "RETRAIN_TIMEOUT", 7200, minimum=1),
            keep_models=env_int(env, "KEEP_MODELS", 5, minimum=2),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings in a child process."""
        return {"RETRAIN_CRON": self.cron, "RETRAIN_TIMEZONE": self.timezone,
                "RETRAIN_MISSED": self.missed, "RETRAIN_MAX_DROP": repr(self.max_drop),
                "RETRAIN_TIMEOUT": str(self.timeout), "KEEP_MODELS": str(self.keep_models)}


@dataclass(frozen=True)
class BackupSettings:
    """The nightly backup of the bot's database. Build with :meth:`from_env`."""

    cron: str = "30 2 * * *"  # a crontab line, read in RETRAIN_TIMEZONE; "off" disables it
    keep: int = 7  # backups kept in ``folder``; the oldest beyond are deleted
    folder: Path = Path("data/backups")

    @classmethod
    def from_env(cls, env: dict[str, str], data_dir: Path = Path("data")) -> BackupSettings:
        """BACKUP_CRON, BACKUP_KEEP and BACKUP_DIR (default ``data_dir/backups``) of
        ``env``; a bad value raises :class:`RecommenderError`."""
        return cls(cron=(env.get("BACKUP_CRON") or "30 2 * * *").strip(),
                   keep=env_int(env, "BACKUP_KEEP", 7, minimum=1),
                   folder=Path(env.get("BACKUP_DIR") or data_dir / "backups"))

    def to_env(self) -> dict[str, str]:
        return {"BACKUP_CRON": self.cron, "BACKUP_KEEP": str(self.keep),
                "BACKUP_DIR": str(self.folder)}


@dataclass(frozen=True)
class JobSettings:
    """The one settings object of a jobs process: the recommender's, retraining's and
    the backup's."""

    recommender: Settings = field(default_factory=Settings)
    retrain: RetrainSettings = field(default_factory=RetrainSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> JobSettings:
        """Every part from ``env``, by default the environment over ``.env``, read once."""
        env = read_env() if env is None else env
        recommender = Settings.from_env(env)
        return cls(recommender=recommender, retrain=RetrainSettings.from_env(env),
                   backup=BackupSettings.from_env(env, recommender.data_dir))

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild every part in the training child (no secrets)."""
        return {**self.recommender.to_env(), **self.retrain.to_env(), **self.backup.to_env()}
