package rollout

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEncodeParseRoundTrip(t *testing.T) {
	s := valid(t)
	s.Halted = &Halt{At: t0.Add(time.Hour), Reason: `crash on <video> & "quotes"`}
	b, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"component":"webkit","halted":{"at":"2026-12-01T01:00:00Z","reason":"crash on <video> & \"quotes\""},` +
		`"id":"webkit-26.3-b","improvement":"webkit/webkit-26.3-b.tar.gz","schema":"bsi.rollout/v1",` +
		`"stages":[{"basis_points":10000,"hold_seconds":86400,"rings":["canary"]},{"basis_points":500,"hold_seconds":86400},` +
		`{"basis_points":2500,"hold_seconds":86400},{"basis_points":10000}],"start":"2026-12-01T00:00:00Z"}`
	if string(b) != want {
		t.Fatalf("encoding:\n%s\nwant\n%s", b, want)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got); d != "" {
		t.Fatal(d)
	}
	c, err := s.Custom()
	if err != nil {
		t.Fatal(err)
	}
	got, err = FromCustom(c)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got); d != "" {
		t.Fatal(d)
	}
}

// A role file written by encoding/json escapes <, > and & inside custom:
// the device reads the same schedule.
func TestFromCustomEscapedSpelling(t *testing.T) {
	s := valid(t)
	s.Halted = &Halt{At: t0, Reason: "a <b> & c"}
	c, _ := s.Custom()
	esc := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`)
	c2 := []byte(esc.Replace(string(c)))
	c2 = append([]byte(`{"other": [1.5e3, {"a":1,"a":2}], `), c2[1:]...)
	got, err := FromCustom(c2)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got); d != "" {
		t.Fatal(d)
	}
}

func TestFromCustomErrors(t *testing.T) {
	for _, c := range []string{"", "null", " ", `{}`, `{"bsi":{}}`} {
		if _, err := FromCustom([]byte(c)); !errors.Is(err, ErrNoSchedule) {
			t.Errorf("%q: %v, want ErrNoSchedule", c, err)
		}
	}
	enc, _ := valid(t).Encode()
	for _, c := range []string{
		`[]`,
		`{"bsi_rollout":` + string(enc) + `,"bsi_rollout":` + string(enc) + `}`,
		`{"bsi_rollout":{}}`,
		`{"bsi_rollout":` + string(enc) + `} x`,
		`{"bsi_rollout":` + strings.Replace(string(enc), `"id":`, `"id":"x","id":`, 1) + `}`,
	} {
		if _, err := FromCustom([]byte(c)); err == nil || errors.Is(err, ErrNoSchedule) {
			t.Errorf("%.60q: %v, want a schedule error", c, err)
		}
	}
}

// replace edits the canonical encoding of the valid schedule.
func replace(t *testing.T, old, new string) []byte {
	b, _ := valid(t).Encode()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not in %s", old, b)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  []byte
		want string
	}{
		{"space", replace(t, `"id":`, `"id": `), "not canonical"},
		{"key order", replace(t, `{"component":"webkit",`, `{"schema":"bsi.rollout/v1","component":"webkit",`), "duplicate key"},
		{"duplicate key", replace(t, `"id":"webkit-26.3-b"`, `"id":"webkit-26.3-b","id":"webkit-26.3-c"`), "duplicate key"},
		{"case folded key", replace(t, `"id":`, `"ID":`), "misspelled"},
		{"unknown field", replace(t, `"id":`, `"ids":"x","id":`), "unknown field"},
		{"float", replace(t, `"basis_points":500,`, `"basis_points":500.0,`), "not an integer"},
		{"exponent", replace(t, `"basis_points":500,`, `"basis_points":5e2,`), "not an integer"},
		{"null rings", replace(t, `{"basis_points":500,`, `{"basis_points":500,"rings":null,`), "misspelled, null"},
		{"empty rings", replace(t, `{"basis_points":500,`, `{"basis_points":500,"rings":[],`), "misspelled, null"},
		{"string number", replace(t, `"basis_points":500,`, `"basis_points":"500",`), "want int"},
		{"trailing", append(replace(t, `"id":`, `"id":`), " {}"...), "trailing data"},
		{"invalid utf8", replace(t, `"webkit-26.3-b"`, "\"webkit-26.3-\xff\""), "invalid UTF-8"},
		{"schema", replace(t, `bsi.rollout/v1`, `bsi.rollout/v2`), "schema"},
		{"start not utc", replace(t, `"2026-12-01T00:00:00Z"`, `"2026-12-01T01:00:00+01:00"`), "start"},
		{"start fraction", replace(t, `"2026-12-01T00:00:00Z"`, `"2026-12-01T00:00:00.5Z"`), "start"},
		{"improvement elsewhere", replace(t, `webkit/webkit-26.3-b.tar.gz`, `safari/webkit-26.3-b.tar.gz`), "improvement"},
		{"last not 100", replace(t, `{"basis_points":10000}]`, `{"basis_points":9000}]`), "must end at 100%"},
		{"down", replace(t, `{"basis_points":2500,`, `{"basis_points":400,`), "stage 3: 4% is lower than stage 2's 5%"},
		{"huge", append(bytes.Repeat([]byte(" "), MaxSize), '{', '}'), "limit"},
		{"deep", []byte(strings.Repeat("[", 20) + strings.Repeat("]", 20)), "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.doc)
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: %v, want a *FieldError with %q", err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Schedule)
		path   string
		want   string
	}{
		{"schema", func(s *Schedule) { s.Schema = "" }, "schema", "not supported"},
		{"component", func(s *Schedule) { s.Component = "Webkit" }, "component", "lower-case"},
		{"reserved component", func(s *Schedule) { s.Component = "rollout" }, "component", "reserved"},
		{"id", func(s *Schedule) { s.ID = "a/../b" }, "id", "not allowed"},
		{"improvement", func(s *Schedule) { s.Improvement = "webkit/other.tar.gz" }, "improvement", "is not webkit/webkit-26.3-b.tar.gz"},
		{"tar is fine", func(s *Schedule) { s.Improvement = "webkit/webkit-26.3-b.tar" }, "", ""},
		{"start zero", func(s *Schedule) { s.Start = time.Time{} }, "start", "out of range"},
		{"no stages", func(s *Schedule) { s.Stages = nil }, "stages", "no stages"},
		{"too many stages", func(s *Schedule) {
			s.Stages = make([]Stage, MaxStages+1)
		}, "stages", "more than 32"},
		{"zero percent", func(s *Schedule) { s.Stages[1].BasisPoints = 0 }, "stages[1].basis_points", "out of range"},
		{"over 100", func(s *Schedule) { s.Stages[1].BasisPoints = 10001 }, "stages[1].basis_points", "out of range"},
		{"no hold", func(s *Schedule) { s.Stages[1].HoldSeconds = 0 }, "stages[1].hold_seconds", "out of range"},
		{"hold too long", func(s *Schedule) { s.Stages[1].HoldSeconds = 366 * 86400 }, "stages[1].hold_seconds", "out of range"},
		{"hold on last", func(s *Schedule) { s.Stages[3].HoldSeconds = 60 }, "stages[3].hold_seconds", "has no hold"},
		{"rings on last", func(s *Schedule) { s.Stages[3].Rings = []string{"beta"} }, "stages[3]", "must end at 100%"},
		{"bad ring", func(s *Schedule) { s.Stages[0].Rings = []string{"Canary"} }, "stages[0].rings[0]", "lower-case"},
		{"ring twice", func(s *Schedule) { s.Stages[0].Rings = []string{"a", "a"} }, "stages[0].rings[1]", "named twice"},
		{"goes down", func(s *Schedule) { s.Stages[2].BasisPoints = 100 }, "stages[2].basis_points", "stage 3: 1% is lower than stage 2's 5%"},
		{"ring stage below all stage", func(s *Schedule) {
			s.Stages[2].Rings = []string{"beta"}
			s.Stages[2].BasisPoints = 100
		}, "stages[2].basis_points", "stage 3: beta 1% is lower than stage 2's 5%"},
		{"halt without reason", func(s *Schedule) { s.Halted = &Halt{At: t0} }, "halted.reason", "empty"},
		{"halt reason control", func(s *Schedule) { s.Halted = &Halt{At: t0, Reason: "a\x1b[31m"} }, "halted.reason", "control"},
		{"halt reason bidi", func(s *Schedule) { s.Halted = &Halt{At: t0, Reason: "a\u202eb"} }, "halted.reason", "format"},
		{"halt at", func(s *Schedule) { s.Halted = &Halt{At: t0.Add(time.Millisecond), Reason: "x"} }, "halted.at", "whole seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := valid(t)
			tc.change(s)
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tc.path || !strings.Contains(fe.Problem, tc.want) {
				t.Fatalf("Validate: %#v, want path %q and %q", err, tc.path, tc.want)
			}
		})
	}
}

func TestParseStages(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []Stage
		err  string
	}{
		{spec: "100%", want: []Stage{{BasisPoints: 10000}}},
		{spec: "0.5%:1h, 12.34%:90m,100%", want: []Stage{{BasisPoints: 50, HoldSeconds: 3600}, {BasisPoints: 1234, HoldSeconds: 5400}, {BasisPoints: 10000}}},
		{spec: "canary+beta:100%:2d,5%:24h,100%", want: []Stage{{BasisPoints: 10000, HoldSeconds: 2 * 86400, Rings: []string{"canary", "beta"}}, {BasisPoints: 500, HoldSeconds: 86400}, {BasisPoints: 10000}}},
		{spec: "", err: "empty stage list"},
		{spec: "5%:24h", err: "must end at 100%"},
		{spec: "5%:24h,50%:1h", err: "must end at 100%"},
		{spec: "50%:24h,25%:24h,100%", err: "stage 2: 25% is lower than stage 1's 50%"},
		{spec: "5%:1h,25%:1h,10%:1h,100%", err: "stage 3: 10% is lower than stage 2's 25%"},
		{spec: "5%,100%", err: "stage 1 (5%): hold 0s is out of range"},
		{spec: "5%:24h,100%:24h", err: "the last stage (100%) has no hold"},
		{spec: "5:24h,100%", err: `stage 1: "5:24h": want a percentage like 5%`},
		{spec: "0%:1h,100%", err: "out of range"},
		{spec: "101%:1h,100%", err: "out of range"},
		{spec: "0.001%:1h,100%", err: "finer than 0.01%"},
		{spec: "5.%:1h,100%", err: "not a percentage"},
		{spec: "-5%:1h,100%", err: "not a percentage"},
		{spec: "5%:soon,100%", err: `hold "soon" is not a duration`},
		{spec: "5%:500ms,100%", err: "out of range"},
		{spec: "5%:400d,100%", err: "out of range"},
		{spec: "Canary:100%:1h,100%", err: "must start with a lower-case letter"},
		{spec: "canary:100%", err: "must end at 100%"},
		{spec: "a:b:5%:1h,100%", err: "want [RINGS:]PERCENT[:HOLD]"},
		{spec: strings.Repeat("1%:1h,", 40) + "100%", err: "more than 32"},
	} {
		got, err := ParseStages(tc.spec)
		if tc.err != "" {
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseStages(%q): %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseStages(%q): %v", tc.spec, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseStages(%q): %s", tc.spec, d)
		}
		if again, err := ParseStages(FormatStages(got)); err != nil || !cmp.Equal(again, got) {
			t.Errorf("FormatStages(%q) = %q does not read back: %v", tc.spec, FormatStages(got), err)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	for bp, want := range map[int]string{1: "0.01%", 50: "0.5%", 500: "5%", 1234: "12.34%", 1000: "10%", 10000: "100%"} {
		if got := FormatPercent(bp); got != want {
			t.Errorf("FormatPercent(%d) = %q, want %q", bp, got, want)
		}
		if back, err := ParsePercent(want); err != nil || back != bp {
			t.Errorf("ParsePercent(%q) = %d, %v", want, back, err)
		}
	}
}

func TestTargetPath(t *testing.T) {
	if p := TargetPath("webkit", "webkit-26.3-b"); p != "rollout/webkit/webkit-26.3-b.json" {
		t.Fatal(p)
	}
	for _, p := range []string{"webkit/x.json", "rollout/webkit/webkit-26.3-b", "rollout/Webkit/abc.json",
		"rollout/webkit/a/b.json", "rollout/webkit/...json", "rollout/webkit/ab.json"} {
		if c, id, ok := ParseTargetPath(p); ok {
			t.Errorf("ParseTargetPath(%q) = %q, %q, true", p, c, id)
		}
	}
	if c, id, ok := ParseTargetPath("rollout/webkit/webkit-26.3-b.json"); !ok || c != "webkit" || id != "webkit-26.3-b" {
		t.Fatal(c, id, ok)
	}
}
