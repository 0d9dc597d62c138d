//go:build bsifault

package fault

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Enabled reports whether this build injects faults (built with -tags bsifault).
const Enabled = true

// Environment variables read once by a bsifault build.
const (
	EnvTrace  = "BSI_FAULT_TRACE"
	EnvKillAt = "BSI_FAULT_KILL_AT"
	EnvErrAt  = "BSI_FAULT_ERR_AT"
	EnvErr    = "BSI_FAULT_ERR"
)

// config is what the environment asks for, read at the first point.
type config struct {
	killAt, errAt int64
	errno         syscall.Errno
	trace         *os.File
}

var (
	once  sync.Once
	cfg   config
	count atomic.Int64
	mu    sync.Mutex // serialises trace lines
)

// errnos are the errors BSI_FAULT_ERR may name.
var errnos = map[string]syscall.Errno{"ENOSPC": syscall.ENOSPC, "EROFS": syscall.EROFS, "EIO": syscall.EIO}

func load() {
	c, err := parse(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bsi: fault: %v\n", err)
		os.Exit(2)
	}
	cfg = c
}

// parse reads the configuration from getenv.
func parse(getenv func(string) string) (config, error) {
	var c config
	num := func(name string) (int64, error) {
		s := getenv(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%s=%q: want a point number from 1", name, s)
		}
		return n, nil
	}
	var err error
	if c.killAt, err = num(EnvKillAt); err != nil {
		return c, err
	}
	if c.errAt, err = num(EnvErrAt); err != nil {
		return c, err
	}
	if c.errAt != 0 {
		name := getenv(EnvErr)
		e, ok := errnos[name]
		if !ok {
			return c, fmt.Errorf("%s=%q: want ENOSPC, EROFS or EIO", EnvErr, name)
		}
		c.errno = e
	}
	if p := getenv(EnvTrace); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return c, fmt.Errorf("%s: %w", EnvTrace, err)
		}
		c.trace = f
	}
	return c, nil
}

// hit counts one point, traces it and kills the process when asked to.
// It returns the point's number.
func hit(op string, checked bool) int64 {
	once.Do(load)
	n := count.Add(1)
	if cfg.trace != nil {
		line := strconv.FormatInt(n, 10) + " " + op
		if checked {
			line += " error"
		}
		mu.Lock()
		cfg.trace.WriteString(line + "\n") // unbuffered: a kill loses nothing
		mu.Unlock()
	}
	if n == cfg.killAt {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		for {
			time.Sleep(time.Hour) // the signal is on its way
		}
	}
	return n
}

// Point counts a point and kills the process when it is the one
// BSI_FAULT_KILL_AT names.
func Point(op string) { hit(op, false) }

// Check is Point for a place that can fail: at the point BSI_FAULT_ERR_AT
// names it returns the errno BSI_FAULT_ERR names.
func Check(op string) error {
	if hit(op, true) == cfg.errAt {
		return cfg.errno
	}
	return nil
}

// CheckPath is Check for an operation on path: the injected error is an
// *fs.PathError naming path and the last part of op ("write" for
// "atomicfile.write"), as the kernel's would.
func CheckPath(op, path string) error {
	if err := Check(op); err != nil {
		return &fs.PathError{Op: op[strings.LastIndexByte(op, '.')+1:], Path: path, Err: err}
	}
	return nil
}
