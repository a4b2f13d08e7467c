# The jspolicy server image: `jspolicy serve`, run as uid/gid 1000 on a read-only root filesystem
# (the manifests mount emptyDirs at /tmp, at the certificate directory and at the bundler's cache).
# Node.js and npm are here for the leader, which bundles policies with imports or npm dependencies;
# the pinned esbuild is fetched (integrity-checked) at build time, so no pod downloads it.
# NOT BUILT YET: there was no container runtime where this was written (docs/install.md, "The image").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

# jspolicy/library and jspolicy/deploy/manifests are symlinks to policies/ and webhook-config/:
# all three are copied so the wheel picks up their files.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY jspolicy ./jspolicy
COPY policies ./policies
COPY webhook-config ./webhook-config
RUN pip install . \
    && JSPOLICY_CACHE_DIR=/opt/jspolicy python -m jspolicy.bundler.tools \
    && rm -rf /src /root/.npm \
    && groupadd --gid 1000 jspolicy \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin jspolicy

ENV JSPOLICY_ESBUILD=/opt/jspolicy/esbuild/0.28.2/binary/bin/esbuild \
    JSPOLICY_ESBUILD_API=/opt/jspolicy/esbuild/0.28.2/api/lib/main.js
WORKDIR /tmp
USER 1000:1000
EXPOSE 8443 8080 9080
CMD ["jspolicy", "serve"]
