# sfgate and fakesf, static binaries on a distroless non-root base (docs/operations.md).
#   docker build -t sfgate .
#   docker run --rm sfgate version
# The go build line is the documented release build; CI runs it verbatim (.ci/docker-build-check).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# .git comes along (see .dockerignore): the binaries take their version and revision from it.
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=true -o bin/ ./cmd/sfgate ./cmd/fakesf

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/bin/sfgate /src/bin/fakesf /usr/local/bin/
USER nonroot:nonroot
EXPOSE 8080 9902
ENTRYPOINT ["/usr/local/bin/sfgate"]
CMD ["help"]
