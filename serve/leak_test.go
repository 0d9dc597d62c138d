package serve

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Resources is what a server could leak: goroutines and open file
// descriptors of this process.
type Resources struct {
	Goroutines int
	FDs        int // entries of /proc/self/fd; -1 where there is none
}

func (r Resources) String() string { return fmt.Sprintf("%d goroutines, %d fds", r.Goroutines, r.FDs) }

// CountResources counts them now.
func CountResources() Resources {
	fds := -1
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(ents) - 1 // the directory being read is one of them
	}
	return Resources{Goroutines: runtime.NumGoroutine(), FDs: fds}
}

// LeakSlack is what may stay above a baseline after a server is gone: one
// goroutine and one descriptor that the runtime or the net package open
// once per process on first use and keep (the netpoller's epoll and
// wake-up descriptors, a lazily started runtime or timer goroutine). A
// leaked connection costs a descriptor on each side and at least one
// goroutine (two for a client keep-alive connection), so a single leaked
// connection or request already exceeds it.
var LeakSlack = Resources{Goroutines: 1, FDs: 1}

// Baseline counts resources once they are stable (the same count 10 times
// in a row, 20 ms apart, or after 5 s): goroutines and connections of what
// ran before are still winding down when it returns.
func Baseline() Resources {
	prev, same := CountResources(), 0
	for deadline := time.Now().Add(5 * time.Second); same < 10 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		now := CountResources()
		if now == prev {
			same++
		} else {
			prev, same = now, 0
		}
	}
	return prev
}

// WaitNoLeak waits (up to 10 s, polling) until the process holds no more
// than base plus LeakSlack, and fails the test with the last count if it
// does not. Connections are closed asynchronously (the goroutines of a
// closed connection still have to notice), hence the settle loop.
func WaitNoLeak(t testing.TB, base Resources) Resources {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := CountResources()
		if now.Goroutines <= base.Goroutines+LeakSlack.Goroutines && now.FDs <= base.FDs+LeakSlack.FDs {
			return now
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leak: %v before, %v after (slack %v)\n%s", base, now, LeakSlack, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShutdownTimeoutClosesConnections: a client stalls in the middle of a
// large payload (it stops reading), the server is told to stop with a short
// ShutdownTimeout. When ListenAndServe returns, the stalled response must
// be gone too: its connection closed and its goroutines ended, not left
// writing until WriteTimeout (10 minutes by default) after the function
// that owns them has returned and closed the tree.
func TestShutdownTimeoutClosesConnections(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "1.big.json")
	if err := os.WriteFile(big, make([]byte, 64<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	base := Baseline()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, Options{Dir: dir, Addr: "127.0.0.1:0", ShutdownTimeout: 200 * time.Millisecond,
			Ready: func(a string) { ready <- a }})
	}()
	c, err := net.Dial("tcp", <-ready)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second)) // hang guard
	if _, err := io.WriteString(c, "GET /1.big.json HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 64<<10)); err != nil {
		t.Fatalf("response did not start: %v", err)
	}
	// The client reads no more: the server blocks once the socket buffers
	// are full. Stop it.
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Log("shutdown finished within the timeout (the socket buffers held the rest)")
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
	n, err := io.Copy(io.Discard, c)
	if n+64<<10 >= 64<<20 {
		t.Fatalf("after ListenAndServe returned, the server went on sending the whole payload (%d bytes, %v)", n+64<<10, err)
	}
	c.Close()
	WaitNoLeak(t, base)
}
