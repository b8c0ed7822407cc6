# mosnd container image. Build: docker build -t mosnd .
# Run:   docker run -p 2045:2045 mosnd                      (built-in config on 0.0.0.0:2045)
#        docker run -v $PWD/mosn.json:/etc/mosnd/mosn.json -p 2045:2045 mosnd -c /etc/mosnd/mosn.json
#
# PID 1: the master runs as PID 1 and handles TERM/INT/QUIT/HUP/USR1/USR2 itself. An upgrade
# (`docker exec <c> mosnd upgrade --binary <dir>`, or `docker kill -s USR2 <c>` to reload the
# code of /opt/mosnd) starts a new master; the first one then stays as a keeper (see
# src/master/keeper.ts) that forwards signals to the serving master and reaps old masters,
# so the container lives on and `docker stop` still stops the service gracefully.

FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json binding.gyp ./
COPY bin ./bin
COPY config ./config
COPY src ./src
# npm ci installs the lock file's packages and builds the TypeScript (prepare) and the
# fd-passing addon (node-gyp, from source: it also carries the sd_notify datagram).
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/mosnd
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/config ./config
COPY --from=build /src/build/Release/fdpass.node ./build/Release/fdpass.node
COPY --from=build /src/src/shared/control.proto ./src/shared/control.proto
# The Envoy API definitions the xDS client loads at run time (only with dynamic_resources).
COPY proto ./proto
RUN ln -s /opt/mosnd/bin/mosnd.js /usr/local/bin/mosnd \
 && mkdir -p /run/mosnd && chown node:node /run/mosnd && chmod 0700 /run/mosnd
USER node
EXPOSE 2045
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/mosnd/bin/mosnd.js", "start", "--run-dir", "/run/mosnd"]
CMD ["-c", "/opt/mosnd/config/docker.json"]
