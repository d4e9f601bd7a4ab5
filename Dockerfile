# photobot serve as a container (a VM, Kubernetes, Yandex Serverless
# Containers): a static binary on a distroless base, run as a non-root user.
#   docker build -t photobot .
#   docker run --rm -p 8080:8080 --env-file photobot.env photobot
FROM golang:1.23 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/photobot ./cmd/photobot

# Static: no libc needed; CA certificates and a nonroot user included.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/photobot /photobot
USER nonroot:nonroot
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/photobot"]
CMD ["serve"]
