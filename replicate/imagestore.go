package replicate

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"path"

	"github.com/photobot/photobot/pipeline"
)

// dataURIMax is the largest photo handed to a model inline; larger ones go
// through the Files API.
const dataURIMax = 256 << 10

// ImageStore is the core's image port for a bot without a public bucket
// (photobot run on a local directory): it keeps each photo in Store and
// hands it to the model without a public URL, inline as a data URI when
// small, through Replicate's Files API otherwise.
type ImageStore struct {
	Store   pipeline.Store
	Client  *Client
	MaxSize int64 // the largest photo read; a longer body is cut here
}

// StoreImage keeps the photo at key and returns the URL a model reads it
// from.
func (s *ImageStore) StoreImage(ctx context.Context, key string, body io.Reader, size int64, contentType string) (string, error) {
	data, err := io.ReadAll(io.LimitReader(body, s.MaxSize+1))
	if err != nil {
		return "", err
	}
	if err := s.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data)), contentType); err != nil {
		return "", err
	}
	if len(data) <= dataURIMax {
		return "data:" + contentType + ";base64," + base64.StdEncoding.EncodeToString(data), nil
	}
	// The file is named after the key's last element (the photo's own
	// name and extension): no knowledge of the key's layout needed here.
	return s.Client.UploadFile(ctx, path.Base(key), contentType, data)
}
