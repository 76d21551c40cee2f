# The bot, its Spark pipeline and a Java 17 runtime in one image; see "Docker" in README.md.
# Data, models and the database live on the /data volume, so a rebuild keeps them.
FROM python:3.11-slim-bookworm

# Spark 4 needs Java 17 or 21; bookworm ships 17. recommender/java.py finds `java` on PATH and
# derives JAVA_HOME from it, so no architecture-specific path (amd64, arm64) is written here.
# The slim image drops /usr/share/man, where the JRE's postinst links its man pages.
# No version pin for the JRE: Debian replaces it in place with each Java security release, so a
# pinned version would soon stop existing. The base image's tag fixes the release (bookworm).
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && java -version

# A non-root user that owns the volume (a new named volume copies this ownership), run as
# its numeric id (below) so that orchestrators can verify it is not root.
RUN groupadd --gid 10001 bot \
    && useradd --create-home --no-log-init --uid 10001 --gid bot bot \
    && mkdir -p /data \
    && chown bot:bot /data

WORKDIR /app

# The README's install steps: a virtualenv, then the fully pinned requirements.txt.
COPY requirements.txt ./
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt

# The code (what .dockerignore leaves: no .env, .venv, data or models), owned by root so the
# bot cannot change it.
COPY . .

# Everything the bot writes goes to the volume; settings come from these variables.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    MODELS_DIR=/data/models \
    DB_PATH=/data/bot.sqlite3

USER 10001:10001
ENV HOME=/home/bot
VOLUME ["/data"]
# The web app's port (the compose service "web" runs `python -m bot --web` on it).
EXPOSE 8501

# Healthy while the running bot's heartbeat is fresh. The first start fetches MovieLens and
# trains a model before the bot runs (about a minute on 2 cores), hence the long start period.
HEALTHCHECK --interval=1m --timeout=10s --start-period=10m --retries=3 \
    CMD ["python", "-m", "bot", "--health"]

# What `make run` does, in the same order: prepare data, train if no model, start the bot.
CMD ["sh", "-c", "python -m recommender data prepare && python -m jobs train --if-missing && exec python -m bot"]
