package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/trust"
)

// faultServer is a loopback server in front of a sim: each request for a
// name (the path after "/metadata/" or "/", as the sim names it) takes the
// next misbehaviour queued for that name, or, when none is left, the sim's
// answer. It counts the requests per name.
type faultServer struct {
	s   *sim
	srv *httptest.Server

	mu     sync.Mutex
	faults map[string][]misbehaviour
	hits   map[string]int
	conns  int // connections accepted
}

// misbehaviour answers one request; next is the sim's answer.
type misbehaviour func(w http.ResponseWriter, r *http.Request, next http.Handler)

func newFaultServer(t *testing.T, s *sim) *faultServer {
	f := &faultServer{s: s, faults: map[string][]misbehaviour{}, hits: map[string]int{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// connections returns the number of connections the server accepted.
func (f *faultServer) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/metadata/")
	if !ok {
		name = strings.TrimPrefix(r.URL.Path, "/")
	}
	f.mu.Lock()
	f.hits[name]++
	var h misbehaviour
	if q := f.faults[name]; len(q) > 0 {
		h, f.faults[name] = q[0], q[1:]
	}
	f.mu.Unlock()
	next := f.s.srv.Config.Handler
	if h == nil {
		next.ServeHTTP(w, r)
		return
	}
	h(w, r, next)
}

// on queues faults for name, one per request, n times each.
func (f *faultServer) on(name string, n int, h misbehaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[name] = append(f.faults[name], h)
	}
}

func (f *faultServer) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[name]
}

// sleeps records the waits a client asks for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// netClient returns a client of f's repository with the bounds of n
// (zero fields: 5 s request and stall timeouts, 2 retries), the
// waits recorded in the returned sleeps, and the largest jitter.
func (f *faultServer) netClient(t *testing.T, n Network) (*Client, *sleeps) {
	dir := t.TempDir()
	if err := Init(dir, f.s.get("1.root.json"), f.s.now); err != nil {
		t.Fatal(err)
	}
	sl := &sleeps{}
	if n.RequestTimeout == 0 {
		n.RequestTimeout = 5 * time.Second
	}
	if n.StallTimeout == 0 {
		n.StallTimeout = 5 * time.Second
	}
	if n.Retries == 0 {
		n.Retries = 2
	}
	if n.Sleep == nil {
		n.Sleep = sl.sleep
	}
	if n.Rand == nil {
		n.Rand = func(m int64) int64 { return m - 1 }
	}
	c, err := New(Config{MetadataDir: dir, MetadataURL: f.srv.URL + "/metadata", TargetsURL: f.srv.URL + "/targets",
		Now: func() time.Time { return f.s.now }, Network: n})
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

// status answers code.
func status(code int, header ...string) misbehaviour {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// hold waits until the client goes away (a hang guard of 10 s).
func hold(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// stallHeaders never answers.
func stallHeaders(w http.ResponseWriter, r *http.Request, _ http.Handler) { hold(r) }

// recorded returns the sim's answer to r.
func recorded(r *http.Request, next http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// stallBody sends the headers and half the body, then nothing.
func stallBody(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body := recorded(r, next).Body.Bytes()
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	hold(r)
}

// drip sends the body one byte per second.
func drip(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body := recorded(r, next).Body.Bytes()
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	for _, c := range body {
		if _, err := w.Write([]byte{c}); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// cut announces the whole body, sends the first n bytes of body (nil:
// the sim's) and closes the connection.
func cut(n int, body []byte) misbehaviour {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if body == nil {
			body = recorded(r, next).Body.Bytes()
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
		buf.Write(body[:min(n, len(body)/2)])
		buf.Flush()
	}
}

// redirect answers 302 to loc.
func redirect(loc string) misbehaviour {
	return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		http.Redirect(w, r, loc, http.StatusFound)
	}
}

// wantFetch checks that err is an operational *FetchError after attempts
// requests, with a cause of type E when E is not *FetchError itself.
func wantFetch[E error](t *testing.T, err error, attempts int) *FetchError {
	t.Helper()
	fe := wantErr[*FetchError](t, err, nil)
	// Download wraps the *FetchError of a failed body read in another.
	for inner := (*FetchError)(nil); errors.As(fe.Err, &inner); {
		fe = inner
	}
	if fe.Attempts != attempts {
		t.Errorf("error %v: %d attempts, want %d", err, fe.Attempts, attempts)
	}
	var e E
	if !errors.As(err, &e) {
		t.Errorf("error %v: no %T in it", err, e)
	}
	return fe
}

func TestNetBoundedTime(t *testing.T) {
	for _, tc := range []struct {
		name           string
		h              misbehaviour
		timeout, stall time.Duration
		stalled        bool
	}{
		{"stall before headers", stallHeaders, 5 * time.Second, 300 * time.Millisecond, true},
		{"stall mid-body", stallBody, 5 * time.Second, 300 * time.Millisecond, true},
		{"stall before headers, request timeout first", stallHeaders, 300 * time.Millisecond, 5 * time.Second, false},
		{"drip 1 byte/s", drip, 300 * time.Millisecond, 5 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultServer(t, newSim(t))
			f.on("timestamp.json", 1, tc.h)
			c, _ := f.netClient(t, Network{RequestTimeout: tc.timeout, StallTimeout: tc.stall, Retries: -1})
			start := time.Now()
			err := c.Refresh(ctx)
			fe := wantFetch[*TimeoutError](t, err, 1)
			var te *TimeoutError
			errors.As(err, &te)
			if te.Stalled != tc.stalled {
				t.Errorf("error %v: stalled %v, want %v", err, te.Stalled, tc.stalled)
			}
			if !strings.Contains(err.Error(), "timestamp.json") {
				t.Errorf("error %q does not name the file", err)
			}
			if got := f.count("timestamp.json"); got != 1 {
				t.Errorf("%d requests, want 1", got)
			}
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("took %v: the bound did not cut the request (%v)", d, fe)
			}
		})
	}
}

// TestNetSlowPayloadDeadlineGrows serves a payload at 40 KiB/s, above the
// minimum rate but for longer than the request timeout: it arrives. The
// same download against a minimum rate no link has fails: the deadline
// grew with the bytes.
func TestNetSlowPayloadDeadlineGrows(t *testing.T) {
	s := newSim(t)
	data := []byte(strings.Repeat("slow but steady ", 4<<10)) // 64 KiB
	s.addTarget("targets", "big.bin", data, "")
	s.publish("targets")
	f := newFaultServer(t, s)
	slow := func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		for chunk := range slicesChunk(data, 16<<10) {
			time.Sleep(400 * time.Millisecond)
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
	for _, tc := range []struct {
		rate int64
		ok   bool
	}{{16 << 10, true}, {1 << 40, false}} {
		c, _ := f.netClient(t, Network{RequestTimeout: time.Second, MinRate: tc.rate, Retries: -1})
		mustRefresh(t, c)
		tg, err := c.Lookup(ctx, "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		name := "targets/" + tg.Hashes["sha256"] + ".big.bin"
		f.on(name, 1, slow)
		err = c.Download(ctx, tg, filepath.Join(t.TempDir(), "big.bin"))
		if tc.ok && err != nil {
			t.Errorf("min rate %d: %v", tc.rate, err)
		}
		if !tc.ok {
			wantFetch[*TimeoutError](t, err, 1)
		}
	}
}

func slicesChunk(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func TestNetRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        misbehaviour
		n        int // times h answers before the sim does
		retries  int
		stall    time.Duration
		requests int // of timestamp.json
		fail     string
		sleeps   []time.Duration // with the largest jitter
	}{
		{"500 twice then 200", status(500), 2, 2, 0, 3, "", []time.Duration{500 * time.Millisecond, time.Second}},
		{"always 500", status(500), 9, 2, 0, 3, "3 attempts, last: HTTP status 500 Internal Server Error", []time.Duration{500 * time.Millisecond, time.Second}},
		{"503 once", status(503), 1, 2, 0, 2, "", []time.Duration{500 * time.Millisecond}},
		{"no retries", status(502), 1, -1, 0, 1, "fetch " /* no "attempts" */, nil},
		{"429 with Retry-After", status(429, "Retry-After", "7"), 1, 2, 0, 2, "", []time.Duration{7 * time.Second}},
		{"429 with a long Retry-After", status(429, "Retry-After", "3600"), 1, 2, 0, 2, "", []time.Duration{30 * time.Second}},
		{"503 with a Retry-After date", status(503, "Retry-After", "Mon, 02 Jan 2006 15:04:05 GMT"), 1, 2, 0, 2, "", []time.Duration{500 * time.Millisecond}},
		{"404 is final", status(404), 9, 2, 0, 1, "fetch " + "URL/metadata/timestamp.json: HTTP status 404 Not Found", nil},
		{"403 is final", status(403), 9, 2, 0, 1, "HTTP status 403 Forbidden", nil},
		{"400 is final", status(400), 9, 2, 0, 1, "HTTP status 400 Bad Request", nil},
		{"closed mid-body twice", cut(100, nil), 2, 2, 0, 3, "", []time.Duration{500 * time.Millisecond, time.Second}},
		{"closed mid-body always", cut(100, nil), 9, 2, 0, 3, "3 attempts, last: unexpected EOF", []time.Duration{500 * time.Millisecond, time.Second}},
		{"closed before the body", cut(0, nil), 1, 2, 0, 2, "", []time.Duration{500 * time.Millisecond}},
		{"stalled then fine", stallBody, 1, 2, 300 * time.Millisecond, 2, "", []time.Duration{500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultServer(t, newSim(t))
			f.on("timestamp.json", tc.n, tc.h)
			c, sl := f.netClient(t, Network{Retries: tc.retries, StallTimeout: tc.stall})
			err := c.Refresh(ctx)
			if got := f.count("timestamp.json"); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if got := sl.got(); fmt.Sprint(got) != fmt.Sprint(tc.sleeps) {
				t.Errorf("waits %v, want %v", got, tc.sleeps)
			}
			if tc.fail == "" {
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				return
			}
			want := strings.ReplaceAll(tc.fail, "URL", f.srv.URL)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
			wantFetch[*FetchError](t, err, tc.requests)
		})
	}
}

// TestNetRootWalkEndsAt404 checks that the 404 for root N+1, the normal
// end of the walk (5.3.2), is asked for once and not retried.
func TestNetRootWalkEndsAt404(t *testing.T) {
	f := newFaultServer(t, newSim(t))
	c, sl := f.netClient(t, Network{})
	mustRefresh(t, c)
	if got := f.count("2.root.json"); got != 1 {
		t.Errorf("2.root.json asked for %d times, want 1", got)
	}
	if got := sl.got(); len(got) != 0 {
		t.Errorf("waited %v", got)
	}
}

// TestNetConnectionKeptAfter404 checks that the 404 ending the root walk
// does not cost a connection: its short body is read, so the timestamp and
// the rest of a refresh come over the same connection (on a real mirror,
// one TLS handshake per refresh, not two). A 404 whose body is long or of
// unknown length is not read (its connection closes); the refresh
// succeeds in every case.
func TestNetConnectionKeptAfter404(t *testing.T) {
	long := func(n int, chunked bool) misbehaviour {
		return func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
			if !chunked {
				w.Header().Set("Content-Length", fmt.Sprint(n))
			}
			w.WriteHeader(http.StatusNotFound)
			w.(http.Flusher).Flush() // no length computed from the body
			w.Write(bytes.Repeat([]byte("x"), n))
		}
	}
	for _, tc := range []struct {
		name  string
		fault misbehaviour
		conns int
	}{
		{"the sim's 404", nil, 1},
		{"4 KiB body", long(drainMax, false), 1},
		{"longer body", long(drainMax+1, false), 2},
		{"unknown length", long(10, true), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFaultServer(t, newSim(t))
			if tc.fault != nil {
				f.on("2.root.json", 1, tc.fault)
			}
			c, _ := f.netClient(t, Network{})
			mustRefresh(t, c)
			if got := f.count("2.root.json"); got != 1 {
				t.Errorf("2.root.json asked for %d times, want 1", got)
			}
			if got := f.connections(); got != tc.conns {
				t.Errorf("%d connections for a refresh, want %d", got, tc.conns)
			}
		})
	}
}

// TestAttackMirrorStallsNotFoundBody: a mirror that answers the
// next-root probe 404 with a short declared body and then sends nothing
// cannot hold the refresh while the client reads that body to keep the
// connection: the read runs under the stall timeout, and the refresh goes
// on (it fails if the body is read after the watchdog stops).
func TestAttackMirrorStallsNotFoundBody(t *testing.T) {
	f := newFaultServer(t, newSim(t))
	f.on("2.root.json", 1, func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("not"))
		w.(http.Flusher).Flush()
		hold(r)
	})
	c, _ := f.netClient(t, Network{StallTimeout: 300 * time.Millisecond})
	start := time.Now()
	mustRefresh(t, c)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("refresh took %v with a stall timeout of 300ms", d)
	}
	if got := f.connections(); got != 2 {
		t.Errorf("%d connections, want 2 (the stalled one given up)", got)
	}
}

// TestNetJitter checks that each wait is drawn in [0, cap] with cap
// doubling from RetryBackoff up to RetryMaxWait.
func TestNetJitter(t *testing.T) {
	var caps []int64
	n := Network{RetryBackoff: time.Second, RetryMaxWait: 5 * time.Second,
		Rand: func(m int64) int64 { caps = append(caps, m-1); return m / 3 }}.withDefaults()
	var got []time.Duration
	for i := range 6 {
		got = append(got, n.wait(i, io.ErrUnexpectedEOF))
	}
	want := []int64{1e9, 2e9, 4e9, 5e9, 5e9, 5e9}
	if fmt.Sprint(caps) != fmt.Sprint(want) {
		t.Errorf("caps %v, want %v", caps, want)
	}
	for i, d := range got {
		if d < 0 || int64(d) > want[i] {
			t.Errorf("wait %d: %v outside [0, %v]", i, d, time.Duration(want[i]))
		}
	}
	// The default source stays in range too.
	n.Rand = DefaultNetwork.withDefaults().Rand
	for i := range 200 {
		if d := n.wait(i%6, io.ErrUnexpectedEOF); d < 0 || int64(d) > want[i%6] {
			t.Fatalf("wait %d: %v outside [0, %v]", i%6, d, time.Duration(want[i%6]))
		}
	}
}

func TestNetEndlessStaysCut(t *testing.T) {
	s := newSim(t)
	s.endless("timestamp.json")
	f := newFaultServer(t, s)
	f.on("timestamp.json", 1, status(500)) // a retry first: the limit holds on the next attempt
	c, sl := f.netClient(t, Network{})
	err := c.Refresh(ctx)
	if e := wantErr[*LengthError](t, err, trust.ErrSecurity); !e.Exceeded || e.Want != DefaultLimits.TimestampMax {
		t.Errorf("error %v: want the timestamp limit exceeded", err)
	}
	if got := f.count("timestamp.json"); got != 2 {
		t.Errorf("%d requests, want 2 (one 500, one cut at the limit, never retried)", got)
	}
	if got := sl.got(); len(got) != 1 {
		t.Errorf("waits %v, want one", got)
	}
}

// TestNetVerificationNotRetried serves a forged timestamp: the security
// error comes after one request.
func TestNetVerificationNotRetried(t *testing.T) {
	s := newSim(t)
	s.set("timestamp.json", sign(t, s.timestamp, []*simKey{newKey(t)}))
	f := newFaultServer(t, s)
	c, sl := f.netClient(t, Network{})
	wantErr[*SignatureError](t, c.Refresh(ctx), trust.ErrSecurity)
	if got := f.count("timestamp.json"); got != 1 || len(sl.got()) != 0 {
		t.Errorf("%d requests, waits %v: a verification failure was retried", got, sl.got())
	}
}

func TestNetDownloadResumesFromStart(t *testing.T) {
	s := newSim(t)
	data := []byte(strings.Repeat("payload ", 8<<10))
	s.addTarget("targets", "p.bin", data, "")
	s.publish("targets")
	f := newFaultServer(t, s)
	c, _ := f.netClient(t, Network{})
	mustRefresh(t, c)
	tg, err := c.Lookup(ctx, "p.bin")
	if err != nil {
		t.Fatal(err)
	}
	name := "targets/" + tg.Hashes["sha256"] + ".p.bin"
	dst := filepath.Join(t.TempDir(), "p.bin")

	// Cut twice after some bytes: the third attempt reads from the start
	// and the file verifies.
	f.on(name, 2, cut(20000, data))
	if err := c.Download(ctx, tg, dst); err != nil {
		t.Fatalf("download: %v", err)
	}
	if got, _ := os.ReadFile(dst); string(got) != string(data) {
		t.Fatal("downloaded bytes differ")
	}
	if got := f.count(name); got != 3 {
		t.Errorf("%d requests, want 3", got)
	}

	// Cut after bytes that the next attempt contradicts: no splice, an
	// operational error naming the URL, nothing left behind.
	os.Remove(dst)
	forged := append([]byte("X"), data[1:]...)
	f.on(name, 1, cut(20000, forged))
	err = c.Download(ctx, tg, dst)
	fe := wantFetch[*FetchError](t, err, 2)
	if !strings.Contains(err.Error(), "content changed between attempts") || !strings.Contains(fe.Error(), name) {
		t.Errorf("error %q", err)
	}
	if strings.Count(err.Error(), "fetch ") != 1 {
		t.Errorf("error %q repeats itself", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dst)); len(ents) != 0 {
		t.Errorf("left %s behind", ents[0].Name())
	}
}

func TestNetRedirects(t *testing.T) {
	other := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(other.Close)
	var otherHits int
	var mu sync.Mutex
	other.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		otherHits++
		mu.Unlock()
		http.Error(w, "mirror", http.StatusBadGateway)
	})
	for _, tc := range []struct {
		name   string
		setup  func(f *faultServer)
		other  bool // Network.OtherHostRedirects
		refuse string
		hits   int // requests to the other host
	}{
		{"same origin", func(f *faultServer) {
			f.on("timestamp.json", 1, redirect("/metadata/mirror/timestamp.json"))
			f.on("mirror/timestamp.json", 1, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				r.URL.Path = "/metadata/timestamp.json"
				next.ServeHTTP(w, r)
			})
		}, false, "", 0},
		{"five redirects", func(f *faultServer) { chain(f, 5) }, false, "", 0},
		{"six redirects", func(f *faultServer) { chain(f, 6) }, false, "more than 5 redirects", 0},
		{"loop", func(f *faultServer) {
			f.on("timestamp.json", 1, redirect("/a"))
			f.on("a", 1, redirect("/b"))
			f.on("b", 1, redirect("/metadata/timestamp.json"))
		}, false, "redirect loop", 0},
		{"another host", func(f *faultServer) {
			f.on("timestamp.json", 1, redirect(other.URL+"/metadata/timestamp.json"))
		}, false, "another origin", 0},
		{"another host allowed", func(f *faultServer) {
			f.on("timestamp.json", 3, redirect(other.URL+"/metadata/timestamp.json"))
		}, true, "502 Bad Gateway", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			otherHits = 0
			mu.Unlock()
			f := newFaultServer(t, newSim(t))
			tc.setup(f)
			c, _ := f.netClient(t, Network{OtherHostRedirects: tc.other})
			err := c.Refresh(ctx)
			mu.Lock()
			hits := otherHits
			mu.Unlock()
			if hits != tc.hits {
				t.Errorf("other host asked %d times, want %d", hits, tc.hits)
			}
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.refuse) {
				t.Fatalf("error %v, want %q", err, tc.refuse)
			}
			if tc.other {
				return
			}
			re := wantErr[*RedirectError](t, err, nil)
			if re.From == "" || re.To == "" || !strings.Contains(err.Error(), re.From) || !strings.Contains(err.Error(), re.To) {
				t.Errorf("error %q does not name both URLs", err)
			}
			if got := f.count("timestamp.json"); got != 1 {
				t.Errorf("timestamp.json asked %d times: a refused redirect was retried", got)
			}
		})
	}
}

// chain makes timestamp.json redirect k times: to hop1, hop2... hopk,
// which serves it.
func chain(f *faultServer, k int) {
	f.on("timestamp.json", 1, redirect("/hop1"))
	for i := 1; i < k; i++ {
		f.on(fmt.Sprintf("hop%d", i), 1, redirect(fmt.Sprintf("/hop%d", i+1)))
	}
	f.on(fmt.Sprintf("hop%d", k), 1, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		r.URL.Path = "/metadata/timestamp.json"
		next.ServeHTTP(w, r)
	})
}

func TestCheckRedirect(t *testing.T) {
	req := func(s string) *http.Request {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	for _, tc := range []struct {
		via    []string
		to     string
		other  bool
		refuse string
	}{
		{[]string{"https://h/m/a"}, "https://h/m/b", false, ""},
		{[]string{"https://h/m/a"}, "http://h/m/b", false, "downgrade from https to http"},
		{[]string{"https://h/m/a"}, "http://h/m/b", true, "downgrade from https to http"},
		{[]string{"https://h/m/a"}, "https://mirror/m/a", false, "another origin"},
		{[]string{"https://h/m/a"}, "https://mirror/m/a", true, ""},
		{[]string{"https://h/m/a"}, "https://h:8443/m/a", false, "another origin"},
		{[]string{"http://h/m/a"}, "https://h/m/a", false, "another origin"},
		{[]string{"http://h/m/a"}, "https://mirror/m/a", true, ""},
		{[]string{"https://h/a", "https://h/b"}, "https://h/a", false, "redirect loop"},
		{[]string{"https://h/1", "https://h/2", "https://h/3", "https://h/4", "https://h/5"}, "https://h/6", false, ""},
		{[]string{"https://h/1", "https://h/2", "https://h/3", "https://h/4", "https://h/5", "https://h/6"}, "https://h/7", false, "more than 5"},
	} {
		var via []*http.Request
		for _, v := range tc.via {
			via = append(via, req(v))
		}
		err := checkRedirect(req(tc.to), via, tc.other)
		if (err == nil) != (tc.refuse == "") || err != nil && !strings.Contains(err.Error(), tc.refuse) {
			t.Errorf("%v -> %s (other hosts %v): %v, want %q", tc.via, tc.to, tc.other, err, tc.refuse)
		}
	}
}

// TestNetCancelStopsRetries cancels the caller's context while the
// client waits to retry, and while a request is under way: no further
// request either way.
func TestNetCancelStopsRetries(t *testing.T) {
	t.Run("during the wait", func(t *testing.T) {
		f := newFaultServer(t, newSim(t))
		f.on("timestamp.json", 9, status(500))
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var waits int
		c, _ := f.netClient(t, Network{Retries: 5, Sleep: func(ctx context.Context, d time.Duration) error {
			waits++
			cancel()
			return ctx.Err()
		}})
		err := c.Refresh(cctx)
		if !errors.Is(err, context.Canceled) || f.count("timestamp.json") != 1 || waits != 1 {
			t.Errorf("error %v after %d requests and %d waits, want context.Canceled after 1 and 1",
				err, f.count("timestamp.json"), waits)
		}
	})
	t.Run("during a request", func(t *testing.T) {
		f := newFaultServer(t, newSim(t))
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.on("timestamp.json", 9, func(w http.ResponseWriter, r *http.Request, _ http.Handler) {
			cancel()
			hold(r)
		})
		c, sl := f.netClient(t, Network{Retries: 5, RequestTimeout: 10 * time.Second, StallTimeout: 10 * time.Second})
		start := time.Now()
		err := c.Refresh(cctx)
		if !errors.Is(err, context.Canceled) || f.count("timestamp.json") != 1 || len(sl.got()) != 0 {
			t.Errorf("error %v after %d requests and waits %v, want context.Canceled after 1 and none",
				err, f.count("timestamp.json"), sl.got())
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("took %v after the cancel", d)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"12":                            12 * time.Second,
		"soon":                          0,
		"99999999999":                   24 * time.Hour,
		"Wed, 02 Jan 2030 03:05:05 GMT": time.Minute,
		"Wed, 02 Jan 2030 03:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}
