FROM busybox AS first
RUN --mount=from=later,target=/m true

FROM busybox AS later
RUN true

FROM first
