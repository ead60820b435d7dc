FROM busybox
RUNN echo hi
