# Every expansion modifier, in the instructions where Docker expands words.
FROM scratch
ENV NAME=graphbuild EMPTY= PATHV=/usr/local/bin:/usr/bin
ENV A1=${NAME} A2=${UNSET:-default} A3=${EMPTY:-colon-default} A4=${EMPTY-dash-keeps-empty}
ENV B1=${NAME:+set} B2=${UNSET+never} B3=${EMPTY:+never} B4=${EMPTY+set-even-if-empty}
ENV C1=${PATHV#*/} C2=${PATHV##*/} C3=${PATHV%:*} C4=${PATHV%%:*}
ENV D1=${PATHV/bin/BIN} D2=${PATHV//bin/BIN}
ENV E1='$NAME single' E2="$NAME double" E3=\$NAME E4=$NAME$NAME
LABEL org.example.name="${NAME}" "quoted key"=value
WORKDIR /opt/$NAME
WORKDIR sub
USER ${NAME}:${NAME}
EXPOSE 80 ${PORT:-8080}/tcp 53/udp 7000-7002
VOLUME /data/$NAME
VOLUME ["/var/$NAME"]
STOPSIGNAL SIG${SIGNAL:-TERM}
