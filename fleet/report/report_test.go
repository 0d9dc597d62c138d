package report

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

func valid() Report {
	return Report{
		ID: "5b0e3f9c2d6a4e18a7c1f0d29e8b3a41", Device: "9f86d081884c7d659a2feaa0c55ad015",
		Platform: "examplephone", Release: "26.3", Build: "23D60", Ring: "canary",
		Component: "webkit", Improvement: "wk-2026-001", Sequence: 1, Stage: 2,
		Outcome: HealthFailed, ErrorClass: "health.timeout", Time: now.Add(-time.Hour),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	min := Report{ID: strings.Repeat("0", 32), Device: strings.Repeat("f", 32), Platform: "p", Release: "1",
		Component: "c", Improvement: "abc", Sequence: MaxSequence, Outcome: Offered, Time: now.Add(5 * time.Minute)}
	for _, b := range []Batch{
		{Reports: []Report{valid()}},
		{Reports: []Report{valid(), min}},
	} {
		enc, err := b.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(bytes.NewReader(enc), Options{Now: now})
		if err != nil {
			t.Fatalf("Decode(%s): %v", enc, err)
		}
		if d := cmp.Diff(&b, got); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		reason Reason
		report int
		field  string
	}{
		{"second report bad", `{"reports":[` + enc1(valid()) + `,` + strings.Replace(enc1(valid()), `"26.3"`, `"26 3"`, 1) + `]}`, ReasonBadValue, 1, "release"},
		{"key case folded", strings.Replace(`{"reports":[`+enc1(valid())+`]}`, `"ring"`, `"Ring"`, 1), ReasonUnknown, 0, ""},
		{"reports twice", `{"reports":[],"reports":[]}`, ReasonDuplicate, -1, ""},
		{"improvement with ..", `{"reports":[` + strings.Replace(enc1(valid()), `"wk-2026-001"`, `"wk..1"`, 1) + `]}`, ReasonBadValue, 0, "improvement"},
		{"sequence zero", `{"reports":[` + strings.Replace(enc1(valid()), `"sequence":1`, `"sequence":0`, 1) + `]}`, ReasonBadValue, 0, "sequence"},
		{"stage too big", `{"reports":[` + strings.Replace(enc1(valid()), `"stage":2`, `"stage":1001`, 1) + `]}`, ReasonBadValue, 0, "stage"},
		{"upper-case device", `{"reports":[` + strings.Replace(enc1(valid()), `"9f86d`, `"9F86D`, 1) + `]}`, ReasonBadValue, 0, "device"},
		{"top-level array", `[]`, ReasonWrongType, -1, ""},
		{"top-level string", `"x"`, ReasonWrongType, -1, ""},
		{"report not object", `{"reports":[1]}`, ReasonWrongType, 0, ""},
	}
	for _, tc := range cases {
		_, err := Decode(strings.NewReader(tc.body), Options{Now: now})
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %v, want a *DecodeError", tc.name, err)
			continue
		}
		if de.Reason != tc.reason || de.Report != tc.report || de.Field != tc.field {
			t.Errorf("%s: %v (reason %q report %d field %q), want %q %d %q", tc.name, err, de.Reason, de.Report, de.Field, tc.reason, tc.report, tc.field)
		}
	}
}

func enc1(r Report) string {
	b, err := Batch{Reports: []Report{r}}.Encode()
	if err != nil {
		panic(err)
	}
	s := string(b)
	return s[len(`{"reports":[`) : len(s)-2]
}

func TestEncodeValidates(t *testing.T) {
	r := valid()
	r.Device = "laptop.example.com"
	if _, err := (Batch{Reports: []Report{valid(), r}}).Encode(); err == nil || !strings.Contains(err.Error(), `report 1: field "device"`) {
		t.Fatalf("Encode of a hostname device id: %v", err)
	}
	if _, err := (Batch{}).Encode(); err == nil {
		t.Fatal("Encode of an empty batch succeeded")
	}
}

func TestNewID(t *testing.T) {
	a, err := NewID(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewID(nil)
	r := valid()
	r.ID, r.Device = a, b
	if a == b || r.Validate() != nil {
		t.Fatalf("NewID: %q %q not two valid distinct ids", a, b)
	}
	if _, err := NewID(strings.NewReader("short")); err == nil {
		t.Fatal("NewID from a short reader succeeded")
	}
}

// FuzzDecode: Decode never panics, and what it accepts encodes back to a
// batch that decodes to the same value.
func FuzzDecode(f *testing.F) {
	b, _ := Batch{Reports: []Report{valid()}}.Encode()
	f.Add(b)
	f.Add([]byte(`{"reports":[{"device":[[[[`))
	f.Add([]byte(`{"reports":[]}`))
	f.Add([]byte(`{"reports":[{"sequence":1e3}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := Decode(bytes.NewReader(in), Options{Now: now})
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		enc, err := got.Encode()
		if err != nil {
			t.Fatalf("accepted batch does not encode: %v", err)
		}
		again, err := Decode(bytes.NewReader(enc), Options{Now: now})
		if err != nil {
			t.Fatalf("re-encoded batch refused: %v\n%s", err, enc)
		}
		if d := cmp.Diff(got, again); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}
