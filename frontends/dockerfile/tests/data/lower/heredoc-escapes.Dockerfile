# COPY heredocs: an unquoted delimiter expands variables and applies `\` escapes, keeping quotes;
# a quoted one keeps the body as written. BuildKit's testCopyHeredocSpecialSymbols and
# testHeredocVarSubstitution (dockerfile_heredoc_test.go; ExpandRaw in dockerfile2llb/convert.go).
FROM busybox
ARG name=world
COPY <<EOF quotefile
"quotes in file"
EOF
COPY <<EOF slashfile1
\
EOF
COPY <<EOF slashfile2
\\
EOF
COPY <<EOF slashfile3
\$
EOF
COPY <<"EOF" rawslashfile1
\
EOF
COPY <<"EOF" rawslashfile2
\\
EOF
COPY <<"EOF" rawslashfile3
\$
EOF
COPY <<EOF /dest/c1
Hello ${name}!
EOF
COPY <<'EOF' /dest/c2
Hello ${name}!
EOF
COPY <<EOF /dest/q1
Hello '${name}'!
EOF
COPY <<EOF /dest/q2
Hello "${name}"!
EOF
COPY <<'EOF' /dest/qsingle2
Hello "${name}"!
EOF
COPY <<EOF /dest/escaped-quote
say \"${name}\" and it's \'ok\'
EOF
