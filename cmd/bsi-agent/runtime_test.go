package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// The agent's runtime defaults apply only where the environment sets
// nothing: GOGC=50, and one processor for the commands that talk to a
// repository; the user's values otherwise.
func TestDeviceRuntimeDefaults(t *testing.T) {
	procs, gc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100)
	t.Cleanup(func() { runtime.GOMAXPROCS(procs); debug.SetGCPercent(gc) })

	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantProcs int
		wantGC    int
	}{
		{"client, nothing set", []string{"client", "check"}, nil, deviceProcs, deviceGCPercent},
		{"tuf-client, nothing set", []string{"tuf-client", "refresh"}, nil, deviceProcs, deviceGCPercent},
		{"version, nothing set", []string{"version"}, nil, 3, deviceGCPercent},
		{"no command", nil, nil, 3, deviceGCPercent},
		{"GOGC set", []string{"client", "check"}, map[string]string{"GOGC": "200"}, deviceProcs, 77},
		{"GOMAXPROCS set", []string{"client", "check"}, map[string]string{"GOMAXPROCS": "3"}, 3, deviceGCPercent},
		{"both set", []string{"tuf-client"}, map[string]string{"GOGC": "off", "GOMAXPROCS": "3"}, 3, 77},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What the environment would have set, as the runtime reads
			// it at start-up.
			runtime.GOMAXPROCS(3)
			debug.SetGCPercent(77)
			deviceRuntime(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }, tt.args)
			if got := runtime.GOMAXPROCS(0); got != tt.wantProcs {
				t.Errorf("GOMAXPROCS %d, want %d", got, tt.wantProcs)
			}
			if got := debug.SetGCPercent(77); got != tt.wantGC {
				t.Errorf("GC percent %d, want %d", got, tt.wantGC)
			}
		})
	}
}
