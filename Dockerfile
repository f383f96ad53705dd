# syntax=docker/dockerfile:1
# The example service (examples/service) as an image, and the `ballast` CLI for the migration Job.
#
#   docker build -t registry.example.com/ballast-example:1.0.0 .
#   docker run --rm -p 8000:8000 -e BALLAST_DATABASE_URL=postgresql://... registry.example.com/ballast-example:1.0.0
#   docker run --rm -e BALLAST_DATABASE_URL=postgresql://... registry.example.com/ballast-example:1.0.0 ballast migrate
#
# Pin NODE_IMAGE to a digest in your own builds.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile the library and the example to JavaScript, side by side ----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: compiling needs none of them (they fetch or link binaries for tests).
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.examples.json ./
COPY src ./src
COPY examples/service ./examples/service
# Writes build/src/** and build/examples/service/*.js: the example's `../../src/index.js` resolves.
RUN npx tsc -p tsconfig.examples.json

# --- runtime: production dependencies and the compiled code, run as an unprivileged user -----------
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
# /app/src/cli/main.js finds ../../package.json (its version) exactly as in the published package.
COPY --from=build /app/build/ ./
RUN chmod 0755 src/cli/main.js && ln -s /app/src/cli/main.js /usr/local/bin/ballast
# Numeric, so Kubernetes can check runAsNonRoot; 1000 is the image's `node` user.
USER 1000:1000
EXPOSE 8000
# tini reaps zombies and forwards SIGTERM to node, which drains (examples/service/main.ts).
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "examples/service/main.js"]
