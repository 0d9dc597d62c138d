package rollout

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseSchedule: whatever Parse accepts is valid, encodes back to the
// same bytes, and reads the same through the custom field.
func FuzzParseSchedule(f *testing.F) {
	s := valid(f)
	b, _ := s.Encode()
	f.Add(b)
	s.Halted = &Halt{At: t0.Add(time.Hour), Reason: "crash on <video>"}
	b, _ = s.Encode()
	f.Add(b)
	f.Add([]byte(`{"component":"a"}`))
	f.Add([]byte(`{"id":1.5e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid schedule: %v", err)
		}
		again, err := s.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("round trip: %v\n%s\n%s", err, data, again)
		}
		c, err := s.Custom()
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromCustom(c)
		if err != nil || !cmp.Equal(back, s) {
			t.Fatalf("custom round trip: %v %s", err, cmp.Diff(s, back))
		}
	})
}

// FuzzParseStages: accepted stage lists are valid in a schedule and print
// back (FormatStages) to a list that parses to the same stages.
func FuzzParseStages(f *testing.F) {
	for _, s := range []string{"100%", "canary:100%:24h,5%:24h,25%:24h,100%", "0.5%:90m,a+b:50%:2d,100%", "5%:1h,1%:1h,100%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		stages, err := ParseStages(spec)
		if err != nil {
			return
		}
		s := valid(t)
		s.Stages = stages
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseStages(%q) accepted stages a schedule refuses: %v", spec, err)
		}
		again, err := ParseStages(FormatStages(stages))
		if err != nil || !cmp.Equal(again, stages) {
			t.Fatalf("ParseStages(%q): FormatStages %q reads back as %v, %v", spec, FormatStages(stages), again, err)
		}
	})
}
