package config

import (
	_ "embed"
	"slices"
)

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the config file, for
// editors and CI. It expresses the structure (keys, types, patterns, list
// limits); the loader checks more, such as uniqueness across entries. The
// same bytes are kept at schema/subscriptions.schema.json.
func Schema() []byte { return slices.Clone(schemaJSON) }
