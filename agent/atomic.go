package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/internal/fault"
)

// writeJSON writes v as indented JSON, atomically.
func writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fault.Point("agent.state.write")
	return atomicfile.WriteFile(name, append(b, '\n'), 0o600)
}

// readJSON reads name into v, refusing unknown fields so that a damaged or
// foreign file is noticed rather than half-read.
func readJSON(name string, v any) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// removeTemps deletes temporary files left in dir by an interrupted
// writeFileAtomic.
func removeTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") {
			os.Remove(filepath.Join(dir, n))
		}
	}
}

// escapeName makes one safe file name of a target path: every byte except
// ASCII letters, digits, '-', '_' and '.' is percent-encoded, and so is a
// leading '.', so that no name is "..", hidden, or holds a separator.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		unreserved := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
		if !unreserved || i == 0 && c == '.' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
