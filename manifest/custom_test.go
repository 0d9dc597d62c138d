package manifest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestCustomRoundTrip(t *testing.T) {
	for _, m := range testdataManifests(t) {
		custom, err := m.Custom()
		if err != nil {
			t.Fatalf("%s: Custom: %v", m.ID, err)
		}
		if !strings.HasPrefix(string(custom), `{"bsi":{"schema":"bsi.improvement/v1",`) {
			t.Errorf("%s: custom = %s", m.ID, custom)
		}
		got, err := FromCustom(custom)
		if err != nil {
			t.Fatalf("%s: FromCustom: %v", m.ID, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("%s: custom round trip (-want +got):\n%s", m.ID, diff)
		}
	}
}

// TestCustomThroughTUF carries a manifest in a real go-tuf targets file,
// pretty-printed (which re-indents the custom field) and parsed back.
func TestCustomThroughTUF(t *testing.T) {
	m := valid()
	custom, err := m.Custom()
	if err != nil {
		t.Fatal(err)
	}
	targets := metadata.Targets(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	tf, err := metadata.TargetFile().FromBytes("webkit/webkit-26.3-a.tar.gz", []byte("payload"), "sha256")
	if err != nil {
		t.Fatal(err)
	}
	tf.Custom = &custom
	targets.Signed.Targets[tf.Path] = tf
	data, err := targets.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	back, err := metadata.Targets().FromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromCustom(*back.Signed.Targets[tf.Path].Custom)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("through go-tuf (-want +got):\n%s", diff)
	}
	if err := got.CheckTargetPath(tf.Path); err != nil {
		t.Error(err)
	}
}

func TestFromCustom(t *testing.T) {
	good, err := valid().Custom()
	if err != nil {
		t.Fatal(err)
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(string(good), `{"bsi":`), "}")
	tests := []struct {
		name   string
		custom string
		want   error  // ErrNoManifest, or nil for a *ValidationError
		path   string // of the first problem
		prob   string
	}{
		{"nil", "", ErrNoManifest, "", ""},
		{"null", " null ", ErrNoManifest, "", ""},
		{"empty object", "{}", ErrNoManifest, "", ""},
		{"other tool only", `{"other": {"bsi": 1}}`, ErrNoManifest, "", ""},
		{"not an object", `["bsi"]`, nil, "", "custom field is not a JSON object"},
		{"duplicate bsi", `{"bsi":` + inner + `,"bsi":` + inner + `}`, nil, "", `duplicate key "bsi"`},
		{"trailing data", string(good) + "{}", nil, "", "trailing data"},
		{"broken other key", `{"other": [1,}`, nil, "", "invalid JSON"},
		{"bsi null", `{"bsi": null}`, nil, "", "want an object, got null"},
		{"bsi invalid", strings.Replace(string(good), `"sequence":1`, `"sequence":0`, 1), nil, "sequence", "out of range"},
		{"bsi unknown field", strings.Replace(string(good), `"sequence":1`, `"sequence":1,"priority":9`, 1), nil, "priority", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := FromCustom(json.RawMessage(tt.custom))
			if m != nil {
				t.Fatalf("got a manifest, error %v", err)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path || !strings.Contains(fe.Problem, tt.prob) {
				t.Errorf("got %v, want path %q and problem containing %q", err, tt.path, tt.prob)
			}
			if errors.Is(err, ErrNoManifest) {
				t.Errorf("an invalid manifest must not look like a missing one: %v", err)
			}
		})
	}
}

func TestFromCustomKeepsOtherKeys(t *testing.T) {
	good, _ := valid().Custom()
	custom := `{"vendor": {"x": [1.5, {"y": null}]}, ` + strings.TrimPrefix(string(good), "{")
	m, err := FromCustom(json.RawMessage(custom))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(valid(), m); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCustomRefusesInvalid(t *testing.T) {
	m := valid()
	m.Component = "root"
	if c, err := m.Custom(); err == nil {
		t.Errorf("Custom of an invalid manifest gave %s", c)
	}
}

func TestCheckTargetPath(t *testing.T) {
	m := valid()
	for path, wantField := range map[string]string{
		"webkit/webkit-26.3-a.tar.gz":  "",
		"webkit/webkit-26.3-a.tar":     "",
		"libxml2/webkit-26.3-a.tar.gz": "component",
		"webkit-26.3-a.tar.gz":         "component",
		"webkit/webkit-26.3-b.tar.gz":  "id",
		"webkit/webkit-26.3-a.zip":     "id",
		"webkit/x/webkit-26.3-a.tar":   "id",
		"webkit/webkit-26.3-a.tar.gz/": "id",
	} {
		err := m.CheckTargetPath(path)
		if wantField == "" {
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != wantField {
			t.Errorf("%s: got %v, want a problem with %s", path, err, wantField)
		}
	}
}

func TestEncodeFormat(t *testing.T) {
	m := valid()
	m.Title = "a <b> & c"
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(enc)
	if !strings.HasSuffix(s, "}\n") || !strings.Contains(s, "\n  \"id\": \"webkit-26.3-a\",\n") {
		t.Errorf("not indented with a final newline:\n%s", s)
	}
	if !strings.Contains(s, `"a <b> & c"`) {
		t.Errorf("HTML characters escaped:\n%s", s)
	}
	if strings.Contains(s, "withdrawn_reason") {
		t.Errorf("empty optional field written:\n%s", s)
	}
}
