package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// childEnv, when set to a DSN, makes the test binary a collector process on
// that database (see TestMain): a real process the tests can kill -9.
const childEnv = "BSI_FLEET_TEST_CHILD"

func childMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := Open(ctx, os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	err = ListenAndServe(ctx, ServeOptions{
		Addr:      "127.0.0.1:0",
		Ready:     func(addr string) { fmt.Printf("listening %s\n", addr) },
		Collector: Options{Store: s, NoRateLimitUnsafe: true, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild starts a collector process on dsn and returns it with its URL.
func startChild(t *testing.T, dsn string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dsn)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				addr <- a
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return cmd, "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("collector child did not start in 60s")
	}
	return nil, ""
}

// TestKill9LosesNoAcknowledgedReport posts batches from several clients to
// a collector process, kills it with SIGKILL while requests are in flight,
// and checks that every report acknowledged with a 200 is in the database,
// then that a restarted collector counts them.
func TestKill9LosesNoAcknowledgedReport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts collector processes")
	}
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			dsn := newDSN(t, kind)
			child, url := startChild(t, dsn)
			var (
				next   atomic.Int64
				mu     sync.Mutex
				acked  []string
				wg     sync.WaitGroup
				client = &http.Client{Timeout: 30 * time.Second}
			)
			enough := make(chan struct{})
			var once sync.Once
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						var rs []report.Report
						for range 50 {
							n := int(next.Add(1))
							r := rep(n, n%5000)
							r.Time = time.Now().UTC()
							rs = append(rs, r)
						}
						body, _ := report.Batch{Reports: rs}.Encode()
						resp, err := client.Post(url+"/v1/reports", "application/json", bytes.NewReader(body))
						if err != nil {
							return // the collector is gone
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							continue
						}
						mu.Lock()
						for _, r := range rs {
							acked = append(acked, r.ID)
						}
						if len(acked) >= 3000 {
							once.Do(func() { close(enough) })
						}
						mu.Unlock()
					}
				}()
			}
			select {
			case <-enough:
			case <-time.After(60 * time.Second):
			}
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			child.Wait()
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(acked) == 0 {
				t.Fatal("no report acknowledged before the kill")
			}
			stored := storedIDs(t, dsn)
			lost := 0
			for _, id := range acked {
				if !stored[id] {
					lost++
				}
			}
			t.Logf("%s: %d reports sent, %d acknowledged, %d stored, %d acknowledged but lost",
				kind, next.Load(), len(acked), len(stored), lost)
			if lost > 0 {
				t.Fatalf("%d acknowledged reports lost by kill -9", lost)
			}

			// A restarted collector counts every stored report.
			child2, url2 := startChild(t, dsn)
			resp, err := client.Get(url2 + "/v1/stats/webkit/wk-2026-001")
			if err != nil {
				t.Fatal(err)
			}
			var st ImprovementStats
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if got := st.Outcomes[string(report.Installed)].Reports; got != len(stored) {
				t.Errorf("restarted collector counts %d reports, want %d", got, len(stored))
			}
			// SIGTERM: a graceful shutdown, exit 0.
			child2.Process.Signal(syscall.SIGTERM)
			if err := child2.Wait(); err != nil {
				t.Errorf("collector after SIGTERM: %v", err)
			}
		})
	}
}
