# ONBUILD triggers keep their heredocs and run them in the stage built on theirs: BuildKit's
# testOnBuildHeredoc (dockerfile_heredoc_test.go; parseOnBuild in instructions/parse.go).
FROM busybox AS base
ONBUILD RUN <<EOF
echo "hello world" >> /dest
EOF
ONBUILD COPY <<'EOF' <<EOF2 /files/
$kept as written
EOF
expanded \$HOME
EOF2

FROM base
