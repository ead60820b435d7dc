# escape=`
# A COPY heredoc's escape character is `\` whatever `# escape=` says: BuildKit expands the body
# with a lexer of its own (shell.NewLex('\\') in ExpandRaw, dockerfile2llb/convert.go).
FROM busybox
ARG name=world
COPY <<EOF /dest
C:\\Users\$name `$name ${name}
EOF
