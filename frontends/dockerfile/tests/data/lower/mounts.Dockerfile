# Every --mount type with its options, --network and --security.
FROM busybox AS deps
RUN echo deps > /deps.txt

FROM busybox
ARG CACHE_ID=gocache
RUN --mount=type=cache,target=/root/.cache,id=${CACHE_ID},sharing=locked,uid=1000,gid=1000,mode=0700 \
    --mount=type=bind,from=deps,source=/deps.txt,target=/mnt/deps.txt \
    --mount=type=bind,source=src,target=/src,rw \
    --mount=type=tmpfs,target=/scratch,size=64m \
    --mount=type=secret,id=token,required=true,mode=0440 \
    --mount=type=secret,id=aws,env=AWS_KEY \
    --mount=type=ssh \
    ls /root/.cache /mnt /src /scratch
RUN --network=none --security=insecure true
RUN --network=host ["echo", "exec", "form"]
