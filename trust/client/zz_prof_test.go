package client

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

func BenchmarkZZProf(b *testing.B) {
	runtime.MemProfileRate = 1
	bits := 8
	if os.Getenv("FLAT") != "" {
		bits = 0
	}
	s := enumSim(b, 10000, bits)
	c, dir := s.client(b, true)
	if os.Getenv("WARM") != "" {
		if _, err := c.Components(ctx); err != nil {
			b.Fatal(err)
		}
		c = s.clientAt(b, dir)
	}
	mustRefresh(b, c)
	seen := 0
	for b.Loop() {
		c.ComponentsFunc(ctx, func(role string, t *Target) bool {
			if seen++; seen == 5000 {
				runtime.GC()
				f, _ := os.Create("/tmp/h9/heap.prof")
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			return false
		})
		break
	}
}
