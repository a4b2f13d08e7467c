# The jspolicy server image: `jspolicy serve`, run as uid/gid 1000 on a read-only root filesystem
# (the manifests mount emptyDirs at /tmp and at the certificate directory).
# NOT BUILT YET: there was no container runtime where this was written (docs/install.md, "The image").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# jspolicy/library and jspolicy/deploy/manifests are symlinks to policies/ and webhook-config/:
# all three are copied so the wheel picks up their files.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY jspolicy ./jspolicy
COPY policies ./policies
COPY webhook-config ./webhook-config
RUN pip install . \
    && rm -rf /src \
    && groupadd --gid 1000 jspolicy \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin jspolicy

WORKDIR /tmp
USER 1000:1000
EXPOSE 8443 8080 9080
CMD ["jspolicy", "serve"]
