package manifest

import (
	"encoding/json"
	"fmt"
	"testing"
)

func BenchmarkDecode(b *testing.B) {
	data := []byte(doc)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalBaseline is plain encoding/json without any checks, for
// comparison with BenchmarkDecode.
func BenchmarkUnmarshalBaseline(b *testing.B) {
	data := []byte(doc)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var m Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromCustom(b *testing.B) {
	custom, err := valid().Custom()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromCustom(custom); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelect1000(b *testing.B) {
	ms := make([]*Manifest, 1000)
	for i := range ms {
		ms[i] = improvement(i+1, fmt.Sprint("26.", i%10))
	}
	d := Device{Platform: "macos", Release: "26.3"}
	b.ReportAllocs()
	for b.Loop() {
		if Select(d, ms) == nil {
			b.Fatal("nothing selected")
		}
	}
}
