FROM busybox
HEALTHCHECK --interval=often CMD true
