# An unquoted COPY heredoc is expanded, so a required variable that is unset fails there, the
# caret on its `$` in the body (BuildKit's ExpandRaw in dockerfile2llb/convert.go).
FROM scratch
COPY <<EOF /greeting
"hello" ${name:?is required}
EOF
