FROM busybox
EXPOSE 80/xtp
