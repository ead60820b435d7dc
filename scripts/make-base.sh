#!/usr/bin/env bash
# Copied from ../shared/bench/make-base.sh (graphbuild benchmark material); keep in step with it.
# Makes the base images the workloads build FROM, as rootfs tarballs (no registry can be reached here).
#   make-base.sh OUTDIR [busybox|debian|debian-gcc|all]
# Writes OUTDIR/busybox.tar, OUTDIR/debian.tar, OUTDIR/debian-gcc.tar (deterministic: sorted, mtime 0).
# busybox: Debian's busybox-static plus /etc/passwd with root, app (1000) and nobody; about 1 MB.
# debian: debootstrap --variant=minbase bookworm from the machine's Debian mirror; debian-gcc adds gcc, libc6-dev, make.
# Import them into a store as `busybox:latest`, `debian:bookworm`, `debian-gcc:bookworm`.
set -euo pipefail
out=${1:?usage: make-base.sh OUTDIR [busybox|debian|debian-gcc|all]}; what=${2:-all}
mkdir -p "$out"; out=$(cd "$out" && pwd)
work=${BASE_WORK:-/var/tmp/gb-base}; mkdir -p "$work"
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
pack() { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf "$2.tmp" . && mv "$2.tmp" "$2"; echo "wrote $2"; }
busybox() {
  [ -s "$out/busybox.tar" ] && return
  [ -x /bin/busybox ] || { apt-get update -q >/dev/null; apt-get install -y -q busybox-static >/dev/null; }
  local r=$work/busybox; rm -rf "$r"; mkdir -p "$r"/{bin,etc,tmp,root,home/app,proc,sys,dev,var,usr/bin,usr/sbin,sbin}
  chmod 1777 "$r/tmp"; cp /bin/busybox "$r/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' > "$r/etc/group"
  chown 1000:1000 "$r/home/app"
  pack "$r" "$out/busybox.tar"
}
debootstrap_base() {
  command -v debootstrap >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q debootstrap >/dev/null; }
  local r=$work/debian
  if [ ! -e "$r/.ok" ]; then rm -rf "$r"; debootstrap --variant=minbase bookworm "$r" "$mirror" >/dev/null; touch "$r/.ok"; fi
}
clean() { rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb "$1"/var/log/*.log "$1/.ok" "$1/.gcc-ok"; }
debian() {
  [ -s "$out/debian.tar" ] && return
  debootstrap_base; local i=$work/debian-img; rm -rf "$i"; cp -a "$work/debian" "$i"; clean "$i"; pack "$i" "$out/debian.tar"
}
debian_gcc() {
  [ -s "$out/debian-gcc.tar" ] && return
  debootstrap_base; local r=$work/debian-gcc
  if [ ! -e "$r/.gcc-ok" ]; then
    rm -rf "$r"; cp -a "$work/debian" "$r"; cp /etc/resolv.conf "$r/etc/resolv.conf"
    echo "deb $mirror bookworm main" > "$r/etc/apt/sources.list"
    mount -t proc proc "$r/proc"; trap 'umount "$r/proc" 2>/dev/null || true' RETURN
    chroot "$r" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    chroot "$r" /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev make >/dev/null
    umount "$r/proc"; touch "$r/.gcc-ok"
  fi
  local i=$work/debian-gcc-img; rm -rf "$i"; cp -a "$r" "$i"; clean "$i"; pack "$i" "$out/debian-gcc.tar"
}
case "$what" in
  busybox) busybox ;; debian) debian ;; debian-gcc) debian_gcc ;;
  all) busybox; debian; debian_gcc ;;
  *) echo "usage: make-base.sh OUTDIR [busybox|debian|debian-gcc|all]" >&2; exit 2 ;;
esac
