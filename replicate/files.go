package replicate

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
)

// UploadFile stores data with the Files API and returns a URL that models
// of this account can read (photobot run hands photos over this way when
// there is no bucket to presign).
func (c *Client) UploadFile(ctx context.Context, name, contentType string, data []byte) (string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="content"; filename=%q`, name)}
	h["Content-Type"] = []string{contentType}
	part, err := w.CreatePart(h)
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return "", &Error{Op: "upload file", Detail: err.Error(), err: err}
	}
	var f struct {
		URLs struct {
			Get string `json:"get"`
		} `json:"urls"`
	}
	hdr := http.Header{"Content-Type": {w.FormDataContentType()}}
	if err := c.call(ctx, request{op: "upload file", method: http.MethodPost, path: "/files", header: hdr, body: buf.Bytes()}, &f); err != nil {
		return "", err
	}
	if f.URLs.Get == "" {
		return "", &Error{Op: "upload file", Detail: "answer holds no urls.get"}
	}
	return f.URLs.Get, nil
}
