# Every metadata instruction ends up in the image config and history.
FROM busybox
MAINTAINER someone@example.com
LABEL a=1 b="two words"
ENV PATH=/opt/bin:$PATH
ENV LANG C.UTF-8
EXPOSE 8080
VOLUME ["/data", "/logs"]
USER nobody
WORKDIR /home/nobody
STOPSIGNAL SIGINT
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m --start-interval=2s --retries=3 CMD wget -q -O- http://localhost:8080/ || exit 1
ONBUILD RUN echo child build
ENTRYPOINT ["/entry.sh"]
CMD ["--serve"]
