FROM busybox AS first
COPY --from=later /x /x

FROM busybox AS later
RUN true

FROM first
