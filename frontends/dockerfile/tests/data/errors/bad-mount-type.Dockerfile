FROM busybox
RUN --mount=type=bogus,target=/x true
