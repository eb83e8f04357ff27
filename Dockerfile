# The evalgate GitHub Action image. Kept lean and cacheable, because a Dockerfile action is rebuilt on every
# workflow run (use the prebuilt image `docker://ghcr.io/OWNER/evalgate:v1` to skip the build; docs/action.md).
# No USER and no WORKDIR: the runner mounts the workspace at /github/workspace, owned by the runner's user,
# and sets the working directory itself.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    EVALGATE_CONSTRAINTS=/opt/evalgate/constraints.txt

# 1. the dependency layer: rebuilt only when pyproject.toml or constraints.txt change
#    (numpy's and scipy's own test suites, about 50 MB, are never imported at run time: removed)
COPY pyproject.toml constraints.txt /opt/evalgate/
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/opt/evalgate/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt -c /opt/evalgate/constraints.txt \
    && rm /tmp/requirements.txt \
    && site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && find "$site/numpy" "$site/scipy" -depth -type d -name tests -exec rm -rf {} +

# 2. the code layer: evalgate itself, without touching the dependencies; the sources are not kept, so
#    `python /opt/evalgate/entrypoint.py` imports the installed package (with its templates)
COPY . /tmp/evalgate-src/
RUN pip install --no-cache-dir --no-deps /tmp/evalgate-src \
    && cp /tmp/evalgate-src/entrypoint.py /opt/evalgate/entrypoint.py \
    && rm -rf /tmp/evalgate-src

# 3. the prebuilt image only (release.yml builds it with EVALGATE_PRIME_SDK_HEADERS=1): the anthropic and openai
#    providers send their SDK's headers, kept per SDK version; kept here, so a run in a fresh checkout never
#    imports an SDK (0.5-1.1 s of a run; docs/providers.md, "Throughput"). An image rebuilt on every run (the
#    Dockerfile action) would pay more for it (1.9 s of build) than its run saves, and skips it.
ARG EVALGATE_PRIME_SDK_HEADERS=0
ENV EVALGATE_SDK_PROFILES=/opt/evalgate/sdk
RUN if [ "$EVALGATE_PRIME_SDK_HEADERS" = 1 ]; then \
        python -c "from evalgate.providers.llm.sdk import prime_headers; prime_headers('/opt/evalgate/sdk')"; \
    fi

ENTRYPOINT ["python", "/opt/evalgate/entrypoint.py"]
