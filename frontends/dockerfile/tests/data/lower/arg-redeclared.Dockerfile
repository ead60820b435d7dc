# BuildKit: frontend/dockerfile/dockerfile_history_test.go testHistory: a declared again ARG keeps its
# place, so the RUN reads "RUN |2 foo=bar2 bar=123 ...".
FROM scratch
ARG foo=bar
ARG bar=123
ARG foo=bar2
RUN ls /etc/
