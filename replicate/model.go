package replicate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
)

// Model names what to run: an official model ("owner/name"), a version of a
// model ("owner/name:<64 hex>"), or a bare version id.
type Model struct {
	Owner, Name, Version string
}

var (
	namePart    = `[A-Za-z0-9][A-Za-z0-9._-]*`
	modelRe     = regexp.MustCompile(`^(` + namePart + `)/(` + namePart + `)(?::([0-9a-f]{64}))?$`)
	versionOnly = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ParseModel parses REPLICATE_MODEL (or an effect's model).
func ParseModel(s string) (Model, error) {
	if versionOnly.MatchString(s) {
		return Model{Version: s}, nil
	}
	m := modelRe.FindStringSubmatch(s)
	if m == nil {
		return Model{}, fmt.Errorf("%q is not owner/name, owner/name:<64-hex version> or a 64-hex version id", s)
	}
	return Model{Owner: m[1], Name: m[2], Version: m[3]}, nil
}

// Short names the model for people: "owner/name", or the version id cut short.
func (m Model) Short() string {
	if m.Owner == "" {
		return m.Version[:min(len(m.Version), 12)]
	}
	return m.Owner + "/" + m.Name
}

func (m Model) String() string {
	switch {
	case m.Owner == "":
		return m.Version
	case m.Version == "":
		return m.Owner + "/" + m.Name
	}
	return m.Owner + "/" + m.Name + ":" + m.Version
}

// ModelInfo is what photobot reads of a model version: its id and the
// names of its inputs.
type ModelInfo struct {
	Version       string
	OpenAPISchema json.RawMessage
}

// GetModel reads the version photobot would run: the pinned version of
// owner/name:version, or the latest version of owner/name. A bare version
// id cannot be looked up without its model's name: it returns nil.
func (c *Client) GetModel(ctx context.Context, m Model) (*ModelInfo, error) {
	type version struct {
		ID            string          `json:"id"`
		OpenAPISchema json.RawMessage `json:"openapi_schema"`
	}
	switch {
	case m.Owner == "":
		return nil, nil
	case m.Version != "":
		var v version
		if err := c.call(ctx, request{op: "get model version", method: http.MethodGet, path: "/models/" + m.Owner + "/" + m.Name + "/versions/" + m.Version}, &v); err != nil {
			return nil, err
		}
		return &ModelInfo{Version: v.ID, OpenAPISchema: v.OpenAPISchema}, nil
	}
	var info struct {
		LatestVersion *version `json:"latest_version"`
	}
	if err := c.call(ctx, request{op: "get model", method: http.MethodGet, path: "/models/" + m.Owner + "/" + m.Name}, &info); err != nil {
		return nil, err
	}
	if info.LatestVersion == nil {
		return &ModelInfo{}, nil
	}
	return &ModelInfo{Version: info.LatestVersion.ID, OpenAPISchema: info.LatestVersion.OpenAPISchema}, nil
}

// InputNames lists the version's input fields, read from its OpenAPI
// schema (components.schemas.Input.properties).
func (i *ModelInfo) InputNames() []string {
	var names []string
	for n := range i.inputSchema().Properties {
		names = append(names, n)
	}
	return names
}

// RequiredInputs lists the inputs the version requires
// (components.schemas.Input.required).
func (i *ModelInfo) RequiredInputs() []string { return i.inputSchema().Required }

// inputSchema is the version's Input schema; empty when unreadable.
func (i *ModelInfo) inputSchema() (in inputSchema) {
	if i == nil {
		return in
	}
	var s struct {
		Components struct {
			Schemas struct {
				Input inputSchema `json:"Input"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if json.Unmarshal(i.OpenAPISchema, &s) != nil {
		return in
	}
	return s.Components.Schemas.Input
}

type inputSchema struct {
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
}
