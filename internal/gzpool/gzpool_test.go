package gzpool

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A reader taken back reads the next stream alone: its content, all its
// members (as gzip.NewReader, whatever the last user set), nothing of the
// stream before, and a bad header is an error that leaves the pool sound.
func TestReuseReadsEachStreamAlone(t *testing.T) {
	Drop()
	t.Cleanup(Drop)
	two := append(gz(t, "first "), gz(t, "second")...)
	for i, tc := range []struct {
		in      []byte
		single  bool // the user reads one member
		want    string
		wantErr bool
	}{
		{in: two, single: true, want: "first "},
		{in: gz(t, "next"), want: "next"},
		{in: two, want: "first second"}, // multistream again after Reset
		{in: []byte("not gzip"), wantErr: true},
		{in: gz(t, "after an error"), want: "after an error"},
	} {
		zr, err := Get(bytes.NewReader(tc.in))
		if tc.wantErr {
			if err == nil {
				t.Fatalf("%d: Get of a bad header: no error", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d: Get: %v", i, err)
		}
		if tc.single {
			zr.Multistream(false)
		}
		got, err := io.ReadAll(zr)
		if err != nil || string(got) != tc.want {
			t.Fatalf("%d: read %q, %v; want %q", i, got, err, tc.want)
		}
		Put(zr)
	}
}
