# target: reset
# ENTRYPOINT in a child stage clears the CMD inherited from its base stage.
FROM busybox AS base
CMD ["base-cmd"]

FROM base AS reset
ENTRYPOINT echo entry
