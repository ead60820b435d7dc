# The base image is not in the store: ENV words that read its variables are deferred.
FROM golang:1.22
ARG GOVERSION=1.22
ENV GOPATH=/go
ENV PATH=$GOPATH/bin:/usr/local/go$GOVERSION/bin:$PATH
ENV MIXED="literal \$dollar and ${HOME:-/root}"
WORKDIR $GOPATH/src
RUN go version
