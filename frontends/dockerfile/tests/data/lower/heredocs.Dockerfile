# Heredocs: a RUN script, a shebang script, tab stripping, quoted delimiters, two on one line, COPY files.
FROM busybox AS base
ARG GREETING=hello
RUN <<EOF
echo $GREETING
mkdir -p /out
EOF
RUN <<EOF
#!/bin/sh
echo from a script file
EOF
RUN <<-EOF
	echo tabs are stripped
	EOF
RUN cat <<A > /out/a && cat <<"B" > /out/b
first $GREETING
A
second $GREETING
B
COPY <<EOF /etc/motd
welcome, ${GREETING}
EOF
COPY <<'EOF' /etc/raw
literal ${GREETING}
EOF
