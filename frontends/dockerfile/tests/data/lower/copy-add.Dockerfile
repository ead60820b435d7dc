# COPY and ADD: context paths, wildcards, flags, URLs, git, --link, --parents, --exclude.
FROM busybox
WORKDIR /app
COPY package.json yarn.lock ./
COPY --chown=app:staff --chmod=0755 bin/ /usr/local/bin/
COPY --chown=1000 *.txt docs/
COPY --link --exclude=*.tmp --exclude=cache/ static /srv/static
COPY --parents ./src/./pkg/*.go /build/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /opt/
ADD https://example.com/file.txt /opt/renamed.txt
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.13.0:docs /buildkit-docs
ADD archive.tar.gz /opt/unpacked/
COPY ../../outside.txt /escaped-not/
