# ENTRYPOINT clears an inherited CMD unless the same stage sets CMD; shell forms use SHELL.
FROM busybox AS base
CMD ["base-cmd"]

FROM base AS reset
ENTRYPOINT echo entry

FROM base
CMD echo kept
ENTRYPOINT ["/bin/entry"]
HEALTHCHECK NONE
