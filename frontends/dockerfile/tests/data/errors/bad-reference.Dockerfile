FROM Busybox:Latest
