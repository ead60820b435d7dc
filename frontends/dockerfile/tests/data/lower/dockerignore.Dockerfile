# dockerignore: node_modules **/*.log !keep.log /secret
# The .dockerignore patterns become the context source's excludes.
FROM busybox
COPY . /app
RUN --mount=type=bind,target=/ctx ls /ctx
