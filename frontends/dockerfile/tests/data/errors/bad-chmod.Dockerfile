FROM busybox
COPY --chmod=abc a /b
