# COPY and ADD --exclude patterns are used as written: BuildKit's COPY and ADD Expand leave
# ExcludePatterns alone (instructions/commands.go), so $SKIP is a pattern, not a variable.
FROM busybox
ARG SKIP=*.md
COPY --exclude=$SKIP --exclude=*.tmp . /app/
ADD --exclude=${SKIP} dir /add/
