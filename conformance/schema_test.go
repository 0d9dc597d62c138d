package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// schemaNode is the subset of JSON Schema (2020-12) the schemas under
// schema/ use: type, const, enum, properties, required,
// additionalProperties false, items, oneOf, $ref to #/$defs.
type schemaNode struct {
	Type                 any                    `json:"type"`
	Const                any                    `json:"const"`
	Enum                 []any                  `json:"enum"`
	Properties           map[string]*schemaNode `json:"properties"`
	Required             []string               `json:"required"`
	AdditionalProperties *bool                  `json:"additionalProperties"`
	Items                *schemaNode            `json:"items"`
	OneOf                []*schemaNode          `json:"oneOf"`
	Ref                  string                 `json:"$ref"`
	Defs                 map[string]*schemaNode `json:"$defs"`
}

func loadSchema(t *testing.T, name string) *schemaNode {
	t.Helper()
	b, err := os.ReadFile("schema/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var s schemaNode
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &s
}

// validate checks v (decoded with UseNumber) against s; root holds $defs.
func validate(root, s *schemaNode, v any, at string) error {
	if s.Ref != "" {
		def := root.Defs[strings.TrimPrefix(s.Ref, "#/$defs/")]
		if def == nil {
			return fmt.Errorf("%s: unknown $ref %s", at, s.Ref)
		}
		return validate(root, def, v, at)
	}
	if len(s.OneOf) > 0 {
		var errs []string
		for _, alt := range s.OneOf {
			if err := validate(root, alt, v, at); err == nil {
				return nil
			} else {
				errs = append(errs, err.Error())
			}
		}
		return fmt.Errorf("%s: matches no alternative: %s", at, strings.Join(errs, " | "))
	}
	if s.Const != nil && v != s.Const {
		return fmt.Errorf("%s: %v, want %v", at, v, s.Const)
	}
	if s.Enum != nil && !slices.Contains(s.Enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, s.Enum)
	}
	if s.Type != nil {
		var types []string
		switch ty := s.Type.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				types = append(types, x.(string))
			}
		}
		if !slices.Contains(types, jsonType(v)) {
			return fmt.Errorf("%s: a %s, want %v", at, jsonType(v), types)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range s.Required {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: required field %q missing", at, r)
			}
		}
		for k, fv := range x {
			ps := s.Properties[k]
			if ps == nil {
				if s.AdditionalProperties != nil && !*s.AdditionalProperties {
					return fmt.Errorf("%s: field %q is not in the schema", at, k)
				}
				continue
			}
			if err := validate(root, ps, fv, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if s.Items != nil {
			for i, e := range x {
				if err := validate(root, s.Items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func validateJSON(t *testing.T, schema *schemaNode, b []byte) error {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return validate(schema, schema, v, "$")
}

// TestAuditJSONSchema: bsi audit --json follows schema/audit.v1.json, on
// a repository with findings of every kind the fixtures make, and the
// validator refuses a field the schema does not document.
func TestAuditJSONSchema(t *testing.T) {
	schema := loadSchema(t, "audit.v1.json")
	for _, name := range []string{"consistent-off", "hex-ecdsa", "rsa-pkcs1v15"} {
		rep := auditFixture(t, name, fixtureTime)
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if err := validateJSON(t, schema, b.Bytes()); err != nil {
			t.Errorf("%s: %v\n%s", name, err, b.String())
		}
		if !strings.Contains(b.String(), `"schema": "bsi.audit/v1"`) {
			t.Errorf("%s: no schema field", name)
		}
		bad := bytes.Replace(b.Bytes(), []byte(`"targets":`), []byte(`"undocumented": 1, "targets":`), 1)
		if err := validateJSON(t, schema, bad); err == nil {
			t.Errorf("%s: an undocumented field passes the schema", name)
		}
	}
}

// TestConformanceJSONSchema: bsi conformance run --json follows
// schema/conformance.v1.json for one client and for a matrix.
func TestConformanceJSONSchema(t *testing.T) {
	schema := loadSchema(t, "conformance.v1.json")
	rep := &Report{Client: []string{"bsi", "tuf-client"}, Started: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Results: []Result{
		{Name: "basic/fresh-init", Group: "basic", Description: "d", Spec: "5.2", Status: Pass},
		{Name: "rollback/timestamp", Group: "rollback", Description: "d", Spec: "5.4.3", Fault: "rollback", Status: Fail,
			Failures: []string{"exit 3"}, Calls: []Invocation{{Args: []string{"refresh"}, Exit: 0, Requests: []string{"GET /timestamp.json"}}}},
		{Name: "keys/rsa", Group: "keys", Status: XFail, XFailReason: "known"},
	}}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"report": func(b *bytes.Buffer) error { return rep.WriteJSON(b) },
		"matrix": func(b *bytes.Buffer) error { return (&Matrix{Runs: []*Report{rep, rep}}).WriteJSON(b) },
		"empty":  func(b *bytes.Buffer) error { return (&Report{}).WriteJSON(b) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		if err := validateJSON(t, schema, b.Bytes()); err != nil {
			t.Errorf("%s: %v\n%s", name, err, b.String())
		}
	}
}

func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n          int
		noun, want string
	}{{0, "finding", "0 findings"}, {1, "finding", "1 finding"}, {2, "target", "2 targets"}, {1, "unexpected pass", "1 unexpected pass"}, {3, "unexpected pass", "3 unexpected passes"}} {
		if got := plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
