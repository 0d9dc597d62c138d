package fleet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bsiframework/bsi/fleet/report"
)

// stallStore is a Store whose every call announces itself on entered and
// then either waits for its context to end (a slow database the client
// gives up on) or fails at once with errDiskFull. Append, called by the
// committer with a context of its own, waits for release instead.
type stallStore struct {
	fail    bool
	entered chan struct{}
	release chan struct{}
}

var errDiskFull = errors.New("database or disk is full")

func (s *stallStore) enter() {
	select {
	case s.entered <- struct{}{}:
	default:
	}
}

func (s *stallStore) wait(ctx context.Context) error {
	s.enter()
	if s.fail {
		return errDiskFull
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *stallStore) Append(ctx context.Context, rs []report.Report) (int, error) {
	if s.fail {
		return 0, s.wait(ctx)
	}
	s.enter()
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return len(rs), nil
}

func (s *stallStore) Stats(ctx context.Context, f Filter) ([]ImprovementStats, error) {
	return nil, s.wait(ctx)
}
func (s *stallStore) Ping(ctx context.Context) error { return s.wait(ctx) }
func (s *stallStore) Close() error                   { return nil }

// recordLog keeps every record logged through it.
type recordLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *recordLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *recordLog) WithGroup(string) slog.Handler      { return l }

// levels returns the highest level logged and the messages.
func (l *recordLog) levels() (slog.Level, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	top := slog.LevelDebug - 1
	var msgs []string
	for _, r := range l.recs {
		top = max(top, r.Level)
		msgs = append(msgs, r.Level.String()+" "+r.Message)
	}
	return top, msgs
}

// TestClientGoneIsNotAnError: a device that closes its connection while
// the collector waits on the database (the request's context is cancelled,
// the store call returns context.Canceled) is the device's doing: the
// collector logs it at debug (the cause) or info level (the refusal), not
// as an error that pages an operator.
// A real storage failure on the same routes is still logged as an error.
func TestClientGoneIsNotAnError(t *testing.T) {
	routes := []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/v1/stats", nil},
		{"GET", "/v1/stats/webkit/wk-2026-001", nil},
		{"GET", "/", nil},
		{"GET", "/healthz", nil},
		{"POST", "/v1/reports", encode(t, rep(1, 1))},
	}
	for _, rt := range routes {
		for _, fail := range []bool{false, true} {
			name := rt.method + " " + rt.path + " client gone"
			if fail {
				name = rt.method + " " + rt.path + " store fails"
			}
			t.Run(name, func(t *testing.T) {
				s := &stallStore{fail: fail, entered: make(chan struct{}, 1), release: make(chan struct{})}
				logs := &recordLog{}
				c := newCollector(t, s, func(o *Options) { o.Logger = slog.New(logs) })
				t.Cleanup(func() { close(s.release) }) // before the collector's Close

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if !fail {
					go func() {
						select {
						case <-s.entered:
							cancel() // the device hangs up while the store works
						case <-ctx.Done():
						}
					}()
				}
				var body io.Reader
				if rt.body != nil {
					body = bytes.NewReader(rt.body)
				}
				req := httptest.NewRequestWithContext(ctx, rt.method, rt.path, body)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				c.ServeHTTP(w, req)
				if w.Code != http.StatusServiceUnavailable {
					t.Errorf("status %d, want 503", w.Code)
				}
				top, msgs := logs.levels()
				switch {
				case fail && top != slog.LevelError:
					t.Errorf("store failure logged %q; want an error", msgs)
				case !fail && top >= slog.LevelWarn:
					t.Errorf("client gone logged %q; want nothing above info", msgs)
				case !fail && !strings.Contains(strings.Join(msgs, "\n"), "client gone"):
					t.Errorf("client gone logged %q; want a debug line saying so", msgs)
				}
			})
		}
	}
}
