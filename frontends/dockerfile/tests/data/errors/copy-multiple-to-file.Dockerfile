FROM busybox
COPY a b c
