//go:build !unix

package agent

import (
	"fmt"
	"os"
	"runtime"
)

// lockState is not implemented outside Unix: the agent refuses to run
// rather than risk two agents interleaving their steps.
func lockState(name string) (*os.File, error) {
	return nil, fmt.Errorf("lock %s: state locking is not supported on %s", name, runtime.GOOS)
}

func unlockState(f *os.File) error { return f.Close() }
