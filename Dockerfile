# Builds all Herald executables and runs one of them (choose with the command).
#   docker build -t herald .
#   docker run herald herald-ingestor --set kafka.bootstrap_servers=kafka:9092
FROM swift:6.1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka-dev libhiredis-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib \
    --product herald-ingestor && swift build -c release --static-swift-stdlib --product herald-scheduler \
    && swift build -c release --static-swift-stdlib --product herald-sender && swift build -c release --static-swift-stdlib --product herald-alerter \
    && swift build -c release --static-swift-stdlib --product heraldctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends librdkafka1 libhiredis0.14 libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system herald
COPY --from=build /src/.build/release/herald-ingestor /src/.build/release/herald-scheduler \
     /src/.build/release/herald-sender /src/.build/release/herald-alerter /src/.build/release/heraldctl /usr/local/bin/
COPY config /etc/herald
ENV HERALD_CONFIG=/etc/herald/herald.yaml
USER herald
EXPOSE 8080 9401 9402 9403 9404
CMD ["herald-ingestor"]
