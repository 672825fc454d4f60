# Builds all Herald executables and runs one of them (choose with the command).
#   docker build -t herald .
#   docker run herald herald-ingestor --set kafka.bootstrap_servers=kafka:9092
#
# No Docker engine runs where Herald is developed: ImageLayoutTests reads this
# file (the runtime stage's COPY, ENV, WORKDIR and USER lines) and runs the four
# workers in the layout it describes, as its numeric user, from its working
# directory. docs/deploy.md says what only a real build can prove.

# The toolchain CI and the benchmarks use (the dependencies need tools 6.2 or later).
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka-dev libhiredis-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Plugins ./Plugins
COPY Sources ./Sources
COPY Tests ./Tests
# One build of every product (the workers and heraldctl share their modules).
RUN swift build -c release --static-swift-stdlib \
    && mkdir /out && cp .build/release/herald-ingestor .build/release/herald-scheduler .build/release/herald-sender \
       .build/release/herald-alerter .build/release/heraldctl /out/

FROM debian:bookworm-slim
# curl: the compose healthchecks ask a worker's /healthz with it.
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 libhiredis0.14 libcurl4 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# herald.yaml beside templates/, alerts/ and accounts/: relative paths in it are
# relative to its directory (docs/configuration.md), so a ConfigMap mounted over
# /etc/herald works the same way.
COPY config /etc/herald
ENV HERALD_CONFIG=/etc/herald/herald.yaml
WORKDIR /
# A numeric user, so Kubernetes' runAsNonRoot can check it without a passwd lookup.
USER 10001:10001
EXPOSE 8080 9401 9402 9403 9404
CMD ["herald-ingestor"]
