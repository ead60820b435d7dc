FROM busybox AS one
FROM busybox AS One
