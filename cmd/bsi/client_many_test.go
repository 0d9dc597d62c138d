package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClientCheckHundredProcesses: 100 devices check one server at once.
// The demo's repository is served by a "bsi serve" child; 100 state
// directories are initialised in-process ("bsi client init" each: a state
// directory records its own absolute install root, so copies of one would
// share it); then 100 "bsi client check" children are started together
// (a plain "go build" of bsi made once by the test: 100 race-built test
// binaries take four times longer on two cores), and all must exit 0 and
// report the same three pending improvements.
func TestClientCheckHundredProcesses(t *testing.T) {
	const devices = 100
	bin := bsiChild(t)
	t0 := time.Now()
	public := demoPublic(t)
	gate := newGate(t, serveChild(t, bin, public))
	check := plainBSI(t, bin)
	t.Logf("published, served, %s built in %v", check, time.Since(t0).Round(time.Millisecond))
	url := gate.url
	root := filepath.Join(public, "1.root.json")
	dir := t.TempDir()
	states := make([]string, devices)
	for i := range states {
		states[i] = filepath.Join(dir, fmt.Sprintf("device-%03d", i))
		if code, out, errOut := runCLI(t, "client", "init", states[i], "--root", root, "--url", url,
			"--platform", "macos", "--release", "26.3"); code != 0 {
			t.Fatalf("bsi client init: exit %d\n%s%s", code, out, errOut)
		}
	}

	t.Logf("%d devices initialised in %v", devices, time.Since(t0).Round(time.Millisecond))
	type result struct {
		err      error
		out      string
		finished time.Duration
	}
	results := make([]result, devices)
	cmds := make([]*exec.Cmd, devices)
	bufs := make([]bytes.Buffer, devices)
	for i := range cmds {
		cmds[i] = exec.Command(check, "client", "check", states[i])
		cmds[i].Stdout, cmds[i].Stderr = &bufs[i], &bufs[i]
	}
	start := time.Now()
	var wg sync.WaitGroup
	var exited atomic.Int32
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child %d: %v", i, err)
		}
		wg.Go(func() {
			err := cmd.Wait()
			exited.Add(1)
			results[i] = result{err: err, out: bufs[i].String(), finished: time.Since(start)}
		})
	}
	started := time.Since(start)
	// Every child's first connection waits at the gate; a child that fails
	// before connecting ends the wait too.
	held := gate.openWhen(func(held int) bool { return held+int(exited.Load()) >= devices }, 2*time.Minute)
	wg.Wait()
	elapsed := time.Since(start)

	failed := 0
	for i, r := range results {
		ok := r.err == nil
		// The demo ends with webkit (b) withdrawn (the rollout story):
		// webkit has nothing to install.
		for _, want := range []string{"libsystem-26.3-a 26.3 (a)", "safari-26.3-b 26.3 (b)",
			"2 change(s) pending: bsi client install " + states[i] + " --all"} {
			ok = ok && strings.Contains(r.out, want)
		}
		if !ok {
			failed++
			if failed <= 3 {
				t.Errorf("device %d: %v\n%s", i, r.err, r.out)
			}
		}
	}
	if held != devices {
		t.Errorf("%d connections at the gate when it opened, want one per device (%d)", held, devices)
	}
	if failed > 0 {
		t.Fatalf("%d of %d checks failed", failed, devices)
	}
	t.Logf("%d bsi client check processes: all started in %v (%d connections held at the gate), all done in %v",
		devices, started.Round(time.Millisecond), held, elapsed.Round(time.Millisecond))
}

// gate is a TCP proxy on 127.0.0.1 in front of a server that holds the
// connections it accepts until open is called.
type gate struct {
	url     string
	mu      sync.Mutex
	held    int
	release chan struct{}
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	u, err := neturl.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{url: "http://" + ln.Addr().String() + "/", release: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.held++
			g.mu.Unlock()
			wg.Go(func() { g.proxy(c, u.Host) })
		}
	})
	return g
}

// openWhen waits until ready(connections held) (or the hang guard d has
// passed), then lets them all through at once and returns how many there
// were.
func (g *gate) openWhen(ready func(held int) bool, d time.Duration) int {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		g.mu.Lock()
		held := g.held
		g.mu.Unlock()
		if ready(held) {
			break
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release)
	return g.held
}

func (g *gate) proxy(c net.Conn, addr string) {
	defer c.Close()
	select {
	case <-g.release:
	case <-time.After(3 * time.Minute): // hang guard
		return
	}
	s, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		io.Copy(s, c)
		s.(*net.TCPConn).CloseWrite()
	}()
	io.Copy(c, s)
}

// plainBSI builds ./cmd/bsi without the race detector into a temporary
// directory and returns it; where the go command is missing or the build
// fails, fallback (the test binary: slower under -race, as good a bsi).
func plainBSI(t *testing.T, fallback string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Logf("no go command (%v): the children are %s", err, fallback)
		return fallback
	}
	bin := filepath.Join(t.TempDir(), "bsi")
	out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Logf("go build: %v (the children are %s)\n%s", err, fallback, out)
		return fallback
	}
	return bin
}
