# images: local
# The base image is in the store: its Env, WorkingDir, User and ONBUILD triggers apply now.
FROM local/onbuild-base:1
ENV PATH=/extra:$PATH
RUN echo $PATH
