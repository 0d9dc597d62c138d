package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Request is one kind of request of a mix.
type Request struct {
	Kind   string      // label in reports: "timestamp-304", "snapshot", "role", "payload"
	Path   string      // relative to Config.URL, without a leading slash
	Header http.Header // sent as is (If-None-Match); read-only once Run starts
	Status int         // the status the server must answer
	Length int64       // the body length it must send; -1: not checked
	Weight int         // relative frequency, at least 1
	// Body, when set, makes the request a POST of the bytes it returns
	// (drawn anew for every request, from the worker's generator), with
	// Header's Content-Type. See Reports.
	Body func(rng *rand.Rand) []byte
}

// Config is one load run. Zero fields take the defaults noted.
type Config struct {
	URL      string        // base URL of the tree: "http://127.0.0.1:8080/"
	Mix      []Request     // at least one request
	Conns    int           // concurrent workers (connections); default 32
	Duration time.Duration // how long new requests are started; default 5s
	Timeout  time.Duration // per request, to the end of the body; default 10s
	Label    string        // name of the server in reports; default the URL's host
}

// Defaults of Config.
const (
	DefaultConns    = 32
	DefaultDuration = 5 * time.Second
	DefaultTimeout  = 10 * time.Second
)

// Latency is the distribution of request times: nearest-rank percentiles.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// KindResult is the figures of one kind of request.
type KindResult struct {
	Kind     string        `json:"kind"`
	Requests int64         `json:"requests"`
	Statuses map[int]int64 `json:"statuses"`
	Errors   int64         `json:"errors"`
	Latency  Latency       `json:"latency"`
	Bytes    int64         `json:"bytes"`
	Files    int           `json:"files"` // requests of the mix of this kind
}

// Result is the outcome of a run.
type Result struct {
	Label    string           `json:"label"`
	URL      string           `json:"url"`
	Conns    int              `json:"conns"`
	Duration time.Duration    `json:"duration_ns"` // from the first request to the last response
	Requests int64            `json:"requests"`    // every request counted, errors included
	Errors   map[string]int64 `json:"errors"`      // by kind: "connect", "status 500", ...
	ReqPerS  float64          `json:"req_per_s"`
	Latency  Latency          `json:"latency"`
	Bytes    int64            `json:"bytes"` // response body bytes read
	Dials    int64            `json:"dials"` // connections the client opened
	Kinds    []KindResult     `json:"kinds"`
	// FirstErrors are up to 5 error messages, for the report.
	FirstErrors []string `json:"first_errors,omitempty"`
}

// ErrorCount is the number of requests that failed.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// OK reports whether requests were sent and none failed.
func (r *Result) OK() bool { return r.Requests > 0 && r.ErrorCount() == 0 }

// sample is one finished request, kept by its worker.
type sample struct {
	req   int // index in the mix
	dur   time.Duration
	code  int
	bytes int64
	err   string // error kind, "" when the response was as expected
}

// Run sends the mix to cfg.URL from cfg.Conns workers for cfg.Duration and
// returns the figures. It returns an error only for a configuration it
// cannot run or a cancelled ctx; failed requests are counted in the Result.
// The connections it opened are closed when it returns.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	base, err := checkConfig(&cfg)
	if err != nil {
		return nil, err
	}
	var dials atomic.Int64
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
		MaxIdleConns:        cfg.Conns,
		MaxIdleConnsPerHost: cfg.Conns,
		MaxConnsPerHost:     cfg.Conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	urls := make([]string, len(cfg.Mix))
	raws := make([][]byte, len(cfg.Mix)) // nil: through client
	for i, r := range cfg.Mix {
		urls[i] = base.JoinPath(r.Path).String()
		if b, ok := rawRequest(base, r); ok {
			raws[i] = b
		}
	}
	pick := picker(cfg.Mix)
	conns := make([]*rawConn, cfg.Conns)
	for w := range conns {
		conns[w] = &rawConn{addr: dialAddr(base), dialer: dialer, dials: &dials}
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	stopCancel := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.cancel()
		}
	})
	defer stopCancel()

	samples := make([][]sample, cfg.Conns)
	var firstErrs errList
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(cfg.Duration)
	for w := range cfg.Conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 0x6c6f6164))
			for ctx.Err() == nil && time.Now().Before(stop) {
				i := pick(rng)
				var s sample
				if raws[i] != nil {
					s = conns[w].get(ctx, cfg.Mix[i], raws[i], cfg.Timeout, &firstErrs)
				} else {
					s = do(ctx, client, cfg.Mix[i], urls[i], cfg.Timeout, &firstErrs, rng)
				}
				if ctx.Err() != nil {
					return // cut short by the caller: not counted
				}
				s.req = i
				samples[w] = append(samples[w], s)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", cfg.URL, err)
	}
	res := summarize(cfg, slices.Concat(samples...), elapsed)
	res.Dials = dials.Load()
	res.FirstErrors = firstErrs.list()
	return res, nil
}

func checkConfig(cfg *Config) (*url.URL, error) {
	base, err := url.Parse(cfg.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("loadgen: %q is not an http(s) URL", cfg.URL)
	}
	if len(cfg.Mix) == 0 {
		return nil, errors.New("loadgen: empty request mix")
	}
	for _, r := range cfg.Mix {
		if r.Weight < 1 || r.Status == 0 {
			return nil, fmt.Errorf("loadgen: request %s %q: weight %d, status %d", r.Kind, r.Path, r.Weight, r.Status)
		}
	}
	if cfg.Conns <= 0 {
		cfg.Conns = DefaultConns
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Label == "" {
		cfg.Label = base.Host
	}
	return base, nil
}

// picker returns a function drawing a mix index by weight.
func picker(mix []Request) func(*rand.Rand) int {
	cum := make([]int, len(mix))
	total := 0
	for i, r := range mix {
		total += r.Weight
		cum[i] = total
	}
	return func(rng *rand.Rand) int {
		n := rng.IntN(total)
		return sort.SearchInts(cum, n+1)
	}
}

// do sends one request and reads the whole body.
func do(ctx context.Context, client *http.Client, r Request, u string, timeout time.Duration, errs *errList, rng *rand.Rand) sample {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method, body := http.MethodGet, io.Reader(nil)
	if r.Body != nil {
		method, body = http.MethodPost, bytes.NewReader(r.Body(rng))
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return sample{dur: time.Since(start), err: "other"}
	}
	req.Header = r.Header
	resp, err := client.Do(req)
	if err != nil {
		errs.add(err)
		return sample{dur: time.Since(start), err: errorKind(err)}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return judge(r, sample{dur: time.Since(start), code: resp.StatusCode, bytes: n}, err, errs)
}

// errorKind classifies a transport or body error.
func errorKind(err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &op) && op.Op == "dial":
		return "connect"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return "reset"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "other"
}

// errList keeps the first few error messages.
type errList struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errList) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) < 5 {
		l.msgs = append(l.msgs, err.Error())
	}
}

func (l *errList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.msgs)
}
