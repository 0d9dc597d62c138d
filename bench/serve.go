package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// server serves a published tree on 127.0.0.1 and counts what crosses
// the wire: requests and response body bytes.
type server struct {
	url      string
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64

	mu    sync.Mutex
	paths []string // every path requested, in order
}

// wire is a count of requests and body bytes.
type wire struct{ requests, bytes int64 }

func serve(ctx context.Context, dir string) (*server, error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{url: "http://" + ln.Addr().String()}
	files := http.FileServer(http.Dir(dir))
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		files.ServeHTTP(&countingWriter{ResponseWriter: w, n: &s.bytes}, r)
	})}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return s, nil
}

// counts returns the counts so far.
func (s *server) counts() wire { return wire{s.requests.Load(), s.bytes.Load()} }

// mark returns the count of requests logged so far, for pathsSince.
func (s *server) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.paths)
}

// pathsSince returns the paths requested since mark returned m.
func (s *server) pathsSince(m int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths[m:]...)
}

func (s *server) close() error { return s.srv.Close() }

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

// newHTTPClient returns a client with a transport of its own: a new
// process opens new connections, and nothing is shared with
// http.DefaultClient or between the two clients measured.
func newHTTPClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		DisableCompression:  true,
	}}
}
