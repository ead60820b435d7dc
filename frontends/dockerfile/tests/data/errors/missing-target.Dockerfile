# target: nope
FROM busybox AS real
