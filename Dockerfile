# photobot serve as a container (a VM, Kubernetes, Yandex Serverless
# Containers): a static binary on a distroless base, run as a non-root user.
#   docker build -t photobot .
#   docker run --rm -p 8080:8080 --env-file photobot.env photobot
# The base images are pinned by digest (the tag says which release it is);
# to update one: docker buildx imagetools inspect <image:tag>, or
# crane digest <image:tag>. The builder may be newer than the module's
# go line: photobot must still build with Go 1.23 (CI checks that).
FROM golang:1.26.8-bookworm@sha256:dc9ad6c05acc7a88e5b71bde60a5fe3bd4b9f0db209011711b464107438a8107 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/photobot ./cmd/photobot

# Static: no libc needed; CA certificates and a nonroot user included.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/photobot /photobot
USER nonroot:nonroot
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/photobot"]
CMD ["serve"]
