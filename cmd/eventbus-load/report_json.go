package main

import (
	"encoding/json"
	"io"
)

// writeJSON writes every figure of the report, indented, for scripts.
// Durations are in nanoseconds (fields ending in _ns), rates in events per
// second, sizes in bytes.
func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
