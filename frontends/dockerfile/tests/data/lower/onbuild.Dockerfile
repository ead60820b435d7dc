# ONBUILD triggers fire when a stage is used as a base, and are not inherited further.
FROM busybox AS parent
ONBUILD RUN echo triggered
ONBUILD COPY --from=assets /asset.txt /asset.txt
LABEL parent=yes

FROM busybox AS assets
RUN echo asset > /asset.txt

FROM parent AS child
RUN echo child

FROM child
RUN echo grandchild
