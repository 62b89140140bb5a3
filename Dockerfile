# The Tandem image: every service binary and tandemctl, run by the Helm chart
# (helm/tandem). Build from the repository root:
#
#   docker build -t registry.example.com/tandem/tandem:0.1.0 .
#
# CI cannot run a container engine; it checks instead that every shared
# library the binaries load comes from a package the runtime stage installs
# (scripts/check-image, ctest image_runtime_libraries).

# -- Build: the same set-up and build as every developer's and CI's machine.
FROM debian:12 AS build
WORKDIR /src
COPY . .
# scripts/bootstrap is the only set-up step (helm is for the chart's tests,
# not needed here).
RUN TANDEM_BOOTSTRAP_HELM=0 scripts/bootstrap
RUN cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null \
 && ninja -C build $(scripts/image-binaries build --targets) \
 && scripts/image-binaries build --stage /out/bin

# -- Run: Debian 12 slim with only the runtime libraries, no compiler, no
# shell needed (each container runs one binary; /bin/sleep serves the
# chart's preStop delay).
FROM debian:12-slim
# Every package whose library a binary loads, by name; scripts/check-image
# checks this list against ldd.
ARG RUNTIME_PACKAGES="\
  libabsl20220623 \
  libc-ares2 \
  libc6 \
  libcivetweb1 \
  libgcc-s1 \
  libgrpc++1.51 \
  libgrpc29 \
  libmariadb3 \
  libmysqlcppconn7v5 \
  libprometheus-cpp-core1.0 \
  libprometheus-cpp-pull1.0 \
  libprotobuf32 \
  libre2-9 \
  libssl3 \
  libstdc++6 \
  libyaml-cpp0.7 \
  zlib1g"
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $RUNTIME_PACKAGES \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 tandem \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tandem
COPY --from=build /out/bin/ /usr/local/bin/
# The chart's pods run as this user too (global.podSecurityContext).
USER 10001:10001
ENTRYPOINT []
CMD ["/usr/local/bin/tandemctl", "--help"]
