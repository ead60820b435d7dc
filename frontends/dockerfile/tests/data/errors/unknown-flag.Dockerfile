FROM busybox
COPY --form=build /a /b
