# escape=`
# The escape directive switches the escape character (Windows style).
FROM busybox
ENV DIR=C:\data
RUN echo one `
    two
COPY a`$b.txt /x/
