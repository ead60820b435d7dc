FROM scratch
ENV X="${MISSING:?must be set}"
