package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// doc is a valid manifest; the strict-decoding tests edit its text.
const doc = `{
  "schema": "bsi.improvement/v1",
  "id": "webkit-26.3-a",
  "title": "WebKit: use-after-free",
  "platform": "macos",
  "component": "webkit",
  "applies_to": {"releases": ["26.3", "26.3.1"], "builds": ["25D125"]},
  "sequence": 1,
  "severity": "high",
  "advisories": ["CVE-2026-20001"],
  "requires_restart": false,
  "released": "2026-11-27T10:00:00Z",
  "status": "active"
}`

func TestDecodeValid(t *testing.T) {
	m, err := Decode([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Schema: Schema, ID: "webkit-26.3-a", Title: "WebKit: use-after-free",
		Platform: "macos", Component: "webkit",
		AppliesTo: AppliesTo{Releases: []string{"26.3", "26.3.1"}, Builds: []string{"25D125"}},
		Sequence:  1, Severity: SeverityHigh, Advisories: []string{"CVE-2026-20001"},
		Released: "2026-11-27T10:00:00Z", Status: StatusActive,
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

// edit replaces old by new in doc, failing when old is not there.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(doc, old) {
		t.Fatalf("%q not in doc", old)
	}
	return strings.Replace(doc, old, new, 1)
}

// TestDecodeStrict checks each way a document can be malformed: a problem
// must name the path and say what is wrong.
func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		in      func(t *testing.T) string
		path    string
		problem string
	}{
		{"unknown field", func(t *testing.T) string { return edit(t, `"status"`, `"x-extra": 1, "status"`) }, `["x-extra"]`, "unknown field"},
		{"field typo", func(t *testing.T) string { return edit(t, `"sequence"`, `"sequense"`) }, "sequense", "unknown field"},
		{"field wrong case", func(t *testing.T) string { return edit(t, `"title"`, `"Title"`) }, `["Title"]`, "unknown field"},
		{"unknown nested field", func(t *testing.T) string { return edit(t, `"builds"`, `"models": ["m1"], "builds"`) }, "applies_to.models", "unknown field"},
		{"duplicate key", func(t *testing.T) string {
			return edit(t, `"status": "active"`, `"status": "active", "status": "withdrawn"`)
		}, "status", "duplicate key"},
		{"duplicate nested key", func(t *testing.T) string { return edit(t, `"builds"`, `"releases": ["27.0"], "builds"`) }, "applies_to.releases", "duplicate key"},
		{"float sequence", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 1.0`) }, "sequence", "1.0 is not an integer"},
		{"exponent sequence", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 1e0`) }, "sequence", "1e0 is not an integer"},
		{"upper exponent", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 1E+2`) }, "sequence", "1E+2 is not an integer"},
		{"negative fraction", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": -0.5`) }, "sequence", "-0.5 is not an integer"},
		{"huge integer", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 99999999999999999999999`) }, "sequence", "out of range"},
		{"sequence as string", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": "1"`) }, "sequence", "want an integer, got a string"},
		{"title as number", func(t *testing.T) string { return edit(t, `"title": "WebKit: use-after-free"`, `"title": 7`) }, "title", "want a string, got a number"},
		{"title null", func(t *testing.T) string { return edit(t, `"title": "WebKit: use-after-free"`, `"title": null`) }, "title", "want a string, got null"},
		{"bool as string", func(t *testing.T) string { return edit(t, `"requires_restart": false`, `"requires_restart": "false"`) }, "requires_restart", "want true or false, got a string"},
		{"bool as number", func(t *testing.T) string { return edit(t, `"requires_restart": false`, `"requires_restart": 0`) }, "requires_restart", "want true or false, got a number"},
		{"applies_to as list", func(t *testing.T) string {
			return edit(t, `{"releases": ["26.3", "26.3.1"], "builds": ["25D125"]}`, `["26.3"]`)
		}, "applies_to", "want an object, got a list"},
		{"releases as string", func(t *testing.T) string { return edit(t, `["26.3", "26.3.1"]`, `"26.3"`) }, "applies_to.releases", "want a list, got a string"},
		{"release as number", func(t *testing.T) string { return edit(t, `["26.3", "26.3.1"]`, `["26.3", 26.4]`) }, "applies_to.releases[1]", "want a string, got a number"},
		{"release as object", func(t *testing.T) string { return edit(t, `["26.3", "26.3.1"]`, `["26.3", {"v": [1]}]`) }, "applies_to.releases[1]", "want a string, got an object"},
		{"advisories null", func(t *testing.T) string { return edit(t, `["CVE-2026-20001"]`, `null`) }, "advisories", "want a list, got null"},
		{"missing schema", func(t *testing.T) string { return edit(t, `"schema": "bsi.improvement/v1",`, ``) }, "schema", "missing"},
		{"missing title", func(t *testing.T) string { return edit(t, `"title": "WebKit: use-after-free",`, ``) }, "title", "missing"},
		{"missing requires_restart", func(t *testing.T) string { return edit(t, `"requires_restart": false,`, ``) }, "requires_restart", "missing"},
		{"missing releases", func(t *testing.T) string { return edit(t, `"releases": ["26.3", "26.3.1"], `, ``) }, "applies_to.releases", "missing"},
		{"trailing object", func(t *testing.T) string { return doc + "\n{}" }, "", "trailing data after the object"},
		{"trailing garbage", func(t *testing.T) string { return doc + "x" }, "", "trailing data after the object"},
		{"trailing brace", func(t *testing.T) string { return doc + "}" }, "", "trailing data after the object"},
		{"oversized", func(t *testing.T) string { return doc + strings.Repeat(" ", MaxSize) }, "", "more than the limit of 65536"},
		{"invalid UTF-8", func(t *testing.T) string { return edit(t, "WebKit:", "Web\xffKit:") }, "", "invalid UTF-8 at byte 76"},
		{"lone surrogate", func(t *testing.T) string { return edit(t, "WebKit:", `Web\ud800Kit:`) }, "title", "control or invalid character"},
		{"empty", func(t *testing.T) string { return "" }, "", "empty document"},
		{"whitespace", func(t *testing.T) string { return " \n" }, "", "empty document"},
		{"top-level list", func(t *testing.T) string { return "[" + doc + "]" }, "", "want an object, got a list"},
		{"top-level null", func(t *testing.T) string { return "null" }, "", "want an object, got null"},
		{"top-level string", func(t *testing.T) string { return `"bsi"` }, "", "want an object, got a string"},
		{"missing comma", func(t *testing.T) string { return edit(t, `"high",`, `"high"`) }, "", "invalid JSON at byte"},
		{"unterminated", func(t *testing.T) string { return doc[:len(doc)-1] }, "", "unexpected end of JSON"},
		{"unterminated list", func(t *testing.T) string { return doc[:strings.Index(doc, `"26.3.1"`)] }, "applies_to.releases[1]", "unexpected end of JSON"},
		{"bad escape", func(t *testing.T) string { return edit(t, "WebKit:", `Web\qKit:`) }, "title", "invalid JSON at byte"},
		{"single quotes", func(t *testing.T) string { return edit(t, `"high"`, `'high'`) }, "severity", "invalid JSON at byte"},
		{"truncated literal", func(t *testing.T) string { return `{"requires_restart": fal` }, "requires_restart", "unexpected end of JSON"},
		{"bad literal", func(t *testing.T) string { return edit(t, `"requires_restart": false`, `"requires_restart": fals`) }, "requires_restart", "invalid character 'f' in literal"},
		{"literal with tail", func(t *testing.T) string { return edit(t, `"requires_restart": false`, `"requires_restart": falsey`) }, "", "invalid character 'y' after object value"},
		{"capital literal", func(t *testing.T) string { return edit(t, `"requires_restart": false`, `"requires_restart": False`) }, "requires_restart", "invalid character 'F' looking for the beginning of a value"},
		{"control character in string", func(t *testing.T) string { return edit(t, "WebKit:", "Web\tKit:") }, "title", "control character 0x09 in string"},
		{"bare minus", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": -`) }, "sequence", "invalid character ',' in number"},
		{"leading zero", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 01`) }, "", "invalid character '1' after object value"},
		{"empty fraction", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 1.`) }, "sequence", "after decimal point"},
		{"empty exponent", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": 1e+`) }, "sequence", "in exponent"},
		{"plus sign", func(t *testing.T) string { return edit(t, `"sequence": 1`, `"sequence": +1`) }, "sequence", "invalid character '+' looking for the beginning"},
		{"bad unicode escape", func(t *testing.T) string { return edit(t, "WebKit:", `Web\u12G4Kit:`) }, "title", `invalid \u escape`},
		{"trailing comma in object", func(t *testing.T) string { return edit(t, `"status": "active"`, `"status": "active",`) }, "", "want a string key"},
		{"trailing comma in list", func(t *testing.T) string { return edit(t, `["26.3", "26.3.1"]`, `["26.3", "26.3.1",]`) }, "applies_to.releases[2]", "invalid character ']' looking for the beginning"},
		{"missing colon", func(t *testing.T) string { return edit(t, `"severity": "high"`, `"severity" "high"`) }, "", "after object key, want ':'"},
		{"number key", func(t *testing.T) string { return edit(t, `"severity": "high"`, `1: "high"`) }, "", "want a string key"},
		{"deep unknown value", func(t *testing.T) string {
			return edit(t, `"status"`, `"deep": `+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`, "status"`)
		}, "deep", "nested more than 64 levels deep"},
		{"unterminated string", func(t *testing.T) string { return `{"title": "abc` }, "title", "unexpected end of JSON"},
		{"unterminated escape", func(t *testing.T) string { return `{"title": "abc\` }, "title", "unexpected end of JSON"},
		{"comment", func(t *testing.T) string { return "// manifest\n" + doc }, "", "invalid JSON at byte 0: invalid character '/'"},
		{"byte order mark", func(t *testing.T) string { return "\ufeff" + doc }, "", `invalid JSON at byte 0: invalid character '\ufeff'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in(t)
			m, err := Decode([]byte(in))
			if m != nil {
				t.Errorf("Decode returned a manifest with error %v", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			found := slices.ContainsFunc(ve.Problems, func(p *FieldError) bool {
				return p.Path == tt.path && strings.Contains(p.Problem, tt.problem)
			})
			if !found {
				t.Errorf("got %v, want path %q and a problem containing %q", err, tt.path, tt.problem)
			}
		})
	}
}

func TestDecodeListsEveryStructuralProblem(t *testing.T) {
	in := `{"schema": 1, "id": "x", "id": "y", "applies_to": {"releases": [1.5]}, "extra": {"a": 1, "a": 2}}`
	_, err := Decode([]byte(in))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	want := []*FieldError{
		{"schema", "want a string, got a number"},
		{"id", "duplicate key"},
		{"applies_to.releases[0]", "want a string, got a number"},
		{"extra", "unknown field"},
		{"title", "missing"},
		{"platform", "missing"},
		{"component", "missing"},
		{"sequence", "missing"},
		{"severity", "missing"},
		{"requires_restart", "missing"},
		{"released", "missing"},
		{"status", "missing"},
	}
	if diff := cmp.Diff(want, ve.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestDecodeCapsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 500 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"u%d": [{"deep": [1.5]}]`, i)
	}
	b.WriteString("}")
	_, err := Decode([]byte(b.String()))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	if len(ve.Problems) != maxProblems {
		t.Errorf("%d problems, want %d", len(ve.Problems), maxProblems)
	}
	if last := ve.Problems[len(ve.Problems)-1]; last.Problem != "too many problems, stopped" {
		t.Errorf("last problem %q", last)
	}
}

func TestDecodePathQuoting(t *testing.T) {
	long := strings.Repeat("k", 100)
	for key, want := range map[string]string{
		"a b":       `["a b"]`,
		"\x1b[2J":   `["\x1b[2J"]`,
		"":          `[""]`,
		long:        `["` + long[:40] + `..."]`,
		"snake_key": "snake_key",
	} {
		in := edit(t, `"status"`, `"`+strings.ReplaceAll(key, "\x1b", `\u001b`)+`": 0, "status"`)
		_, err := Decode([]byte(in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != want || fe.Problem != "unknown field" {
			t.Errorf("key %q: got %v, want path %s", key, err, want)
		}
	}
}

func TestDecodeEmptyOptionalList(t *testing.T) {
	m, err := Decode([]byte(edit(t, `"builds": ["25D125"]`, `"builds": []`)))
	if err != nil {
		t.Fatal(err)
	}
	if m.AppliesTo.Builds != nil {
		t.Errorf("builds = %#v, want nil so that decode and encode agree", m.AppliesTo.Builds)
	}
}

// TestDecodeTestdata decodes each file under testdata and checks that Encode
// gives a fixed point.
func TestDecodeTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("%s: Encode: %v", f, err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("%s: Decode(Encode): %v", f, err)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Errorf("%s: decode → encode → decode (-first +second):\n%s", f, diff)
		}
		if enc2, _ := m2.Encode(); !bytes.Equal(enc, enc2) {
			t.Errorf("%s: Encode is not deterministic:\n%s\n%s", f, enc, enc2)
		}
	}
}

// TestDecodeMangled flips every byte of a valid document: each result is
// either refused or, when still valid, survives a round trip unchanged.
func TestDecodeMangled(t *testing.T) {
	orig := []byte(doc)
	refused := 0
	for i := range orig {
		for _, c := range []byte{'"', '{', '1', 'x', 0xff, ' '} {
			if orig[i] == c {
				continue
			}
			mangled := bytes.Clone(orig)
			mangled[i] = c
			m, err := Decode(mangled)
			if err != nil {
				refused++
				continue
			}
			enc, err := m.Encode()
			if err != nil {
				t.Fatalf("byte %d = %q: decoded but Encode fails: %v", i, c, err)
			}
			if m2, err := Decode(enc); err != nil || !cmp.Equal(m, m2) {
				t.Fatalf("byte %d = %q: round trip differs: %v", i, c, err)
			}
		}
	}
	if refused < len(orig)*3 {
		t.Errorf("only %d of %d mangled documents refused", refused, len(orig)*6)
	}
}
