package testservers

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// FaultProxy forwards every request to an emulator and, once armed, lets
// only a number of uploads through and refuses every later one with 403
// Forbidden (a status no SDK retries): an upload interrupted midway.
type FaultProxy struct {
	Host string // the proxy's host:port

	mu      sync.Mutex
	armed   bool
	allow   int // uploads still let through while armed
	refused int // uploads refused
}

// NewFaultProxy starts a proxy in front of target (host:port) for the
// test's duration.
func NewFaultProxy(t *testing.T, target string) *FaultProxy {
	t.Helper()
	p := &FaultProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		// The emulator sees its own host (fake-gcs-server tells path-
		// from host-style requests by it; gofakes3 checks no signature,
		// and Azure's shared key does not sign the host).
		r.SetURL(&url.URL{Scheme: "http", Host: target})
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Host = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpload(r) && !p.admit() {
			http.Error(w, "testservers: upload refused by the fault proxy", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// isUpload: a request that writes an object (PUT of a blob or an S3
// object, POST or PUT of a GCS upload).
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodPatch
}

func (p *FaultProxy) admit() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed {
		if p.allow == 0 {
			p.refused++
			return false
		}
		p.allow--
	}
	return true
}

// FailAfter lets n more uploads through, then refuses every upload until
// Heal.
func (p *FaultProxy) FailAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed, p.allow, p.refused = true, n, 0
}

// Heal lets every upload through again.
func (p *FaultProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = false
}

// Refused returns how many uploads were refused since FailAfter.
func (p *FaultProxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}
