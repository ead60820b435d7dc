# args: FROM_CLI=cli
# A stage built on another keeps its ARGs with their values, since BuildKit starts it from its
# base's state and build args (dispatchState.init in dockerfile2llb/convert.go); an ARG declared
# again without a value keeps the value it has (dispatchArg sets no env for it).
FROM busybox AS parent
ARG FROM_CLI
ARG DEFAULTED=parent-default
ARG REDECLARED=parent

FROM parent AS child
ARG REDECLARED
ENV SEEN=${DEFAULTED}
RUN echo "$FROM_CLI $DEFAULTED $REDECLARED"
