# RUN --network is checked as written, never expanded: BuildKit's runNetworkPostHook
# (instructions/commands_runnetwork.go) validates the flag while parsing.
FROM busybox
ARG NET=none
RUN --network=$NET true
