RUN echo before from
FROM busybox
