package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
)

// Options configure a Collector. Store is required; zero values take the
// defaults given.
type Options struct {
	Store  Store
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now

	MaxBody int64 // bytes of one POST body (default 1 MiB)
	// MaxSkew and MaxAge bound a report's time (defaults 10 minutes, 30 days).
	MaxSkew, MaxAge time.Duration

	// Rate limits. A device may send DeviceBurst reports at once, then
	// DeviceRate per second; an address DeviceBurst requests at once, then
	// AddrRate per second. Defaults: 0.2/s burst 60 per device, 50/s burst
	// 500 per address (many devices share an address behind NAT).
	// NoRateLimitUnsafe turns both off (benchmarks, a trusted relay).
	DeviceRate        float64
	DeviceBurst       int
	AddrRate          float64
	AddrBurst         int
	NoRateLimitUnsafe bool

	// MaxCommit is the most reports one group commit writes (default 5000).
	MaxCommit int

	// StatsTTL is how long the statistics of all improvements are reused
	// by GET /v1/stats and the status page (default 2s): each computation
	// scans the reports, so a client polling in a loop must not cause one
	// per request.
	StatsTTL time.Duration
}

// Collector receives reports over HTTP and serves statistics. It is an
// http.Handler; Close after the HTTP server has stopped.
type Collector struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	devices *limiter
	addrs   *limiter

	// mu guards closed: submit holds it shared while it queues, Close
	// exclusively while it closes the queue.
	mu      sync.RWMutex
	closed  bool
	queue   chan *commitReq
	stopped chan struct{}

	// statsMu guards the cached statistics of all improvements.
	statsMu    sync.Mutex
	statsAt    time.Time
	statsCache []ImprovementStats
}

var _ http.Handler = (*Collector)(nil)

// commitReq is one POST's reports waiting for the group commit.
type commitReq struct {
	reports []report.Report
	done    chan error // buffered: the committer never blocks on it
}

// New returns a Collector writing to opts.Store and starts its committer.
func New(opts Options) (*Collector, error) {
	if opts.Store == nil {
		return nil, errors.New("fleet: collector without a store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	deff(&opts.DeviceRate, 0.2)
	def(&opts.DeviceBurst, 60)
	deff(&opts.AddrRate, 50)
	def(&opts.AddrBurst, 500)
	def(&opts.MaxCommit, 5000)
	if opts.StatsTTL <= 0 {
		opts.StatsTTL = 2 * time.Second
	}
	c := &Collector{
		opts:    opts,
		log:     opts.Logger,
		mux:     http.NewServeMux(),
		queue:   make(chan *commitReq, 1024),
		stopped: make(chan struct{}),
	}
	if !opts.NoRateLimitUnsafe {
		c.devices = newLimiter(opts.DeviceRate, opts.DeviceBurst, 1<<20)
		c.addrs = newLimiter(opts.AddrRate, opts.AddrBurst, 1<<16)
	}
	c.mux.HandleFunc("POST /v1/reports", c.handleReports)
	c.mux.HandleFunc("GET /v1/stats", c.limited(c.handleStats))
	c.mux.HandleFunc("GET /v1/stats/{component}/{improvement}", c.limited(c.handleStatsOne))
	c.mux.HandleFunc("GET /healthz", c.handleHealth)
	c.mux.HandleFunc("GET /{$}", c.limited(c.handleStatus))
	go c.commitLoop()
	return c, nil
}

func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// Close waits for the reports already queued to be committed and stops the
// committer. Call it after the HTTP server has stopped: no request may
// submit after Close. It does not close the store.
func (c *Collector) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	<-c.stopped
	return nil
}

// commitLoop is the group commit: it takes every request waiting, writes
// their reports in one transaction, then answers them all. A 2xx goes out
// only after the transaction holding the report has committed.
func (c *Collector) commitLoop() {
	defer close(c.stopped)
	for req := range c.queue {
		reqs := []*commitReq{req}
		n := len(req.reports)
	drain:
		for n < c.opts.MaxCommit {
			select {
			case r, ok := <-c.queue:
				if !ok {
					break drain
				}
				reqs = append(reqs, r)
				n += len(r.reports)
			default:
				break drain
			}
		}
		all := req.reports
		if len(reqs) > 1 {
			all = make([]report.Report, 0, n)
			for _, r := range reqs {
				all = append(all, r.reports...)
			}
		}
		// The commit is not cancelled with any one request: others wait on it.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := c.opts.Store.Append(ctx, all)
		cancel()
		if err != nil {
			c.log.Error("fleet: commit failed", "reports", n, "requests", len(reqs), "err", err)
		}
		for _, r := range reqs {
			r.done <- err
		}
	}
}

var errClosed = errors.New("fleet: collector closed")

// submit queues reports for the next group commit and waits for it.
func (c *Collector) submit(ctx context.Context, reports []report.Report) error {
	req := &commitReq{reports: reports, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	select {
	case c.queue <- req:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The reports may still be committed; the device retries with the
		// same report ids and the store skips them.
		return ctx.Err()
	}
}

// apiError is the body of every 4xx and 5xx answer.
type apiError struct {
	Status int    `json:"-"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
	Report *int   `json:"report,omitempty"`
	Field  string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

func (c *Collector) refuse(w http.ResponseWriter, r *http.Request, e apiError) {
	c.log.Info("fleet: refused", "remote", r.RemoteAddr, "status", e.Status, "reason", e.Reason, "err", e.Error)
	writeJSON(w, e.Status, e)
}

// Accepted is the body of a 200 answer to POST /v1/reports: every report
// of the batch is committed (new or already stored).
type Accepted struct {
	Accepted int `json:"accepted"`
}

// addrAllowed takes one request from the client address's bucket, or
// answers 429 and returns false. The address is the TCP peer's: a proxy's
// X-Forwarded-For is not trusted.
func (c *Collector) addrAllowed(w http.ResponseWriter, r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ok, wait := c.addrs.take(map[string]int{host: 1}, c.opts.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		c.refuse(w, r, apiError{Status: http.StatusTooManyRequests, Reason: "rate-address", Error: fmt.Sprintf("too many requests from %s", host)})
		return false
	}
	return true
}

// limited applies the address rate limit to a handler.
func (c *Collector) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.addrAllowed(w, r) {
			h(w, r)
		}
	}
}

// allStats returns the statistics of every improvement, computed at most
// once per StatsTTL.
func (c *Collector) allStats(ctx context.Context) ([]ImprovementStats, error) {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	now := time.Now()
	if c.statsCache != nil && now.Sub(c.statsAt) < c.opts.StatsTTL {
		return c.statsCache, nil
	}
	st, err := c.opts.Store.Stats(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	c.statsCache, c.statsAt = st, now
	return st, nil
}

func (c *Collector) handleReports(w http.ResponseWriter, r *http.Request) {
	if !c.addrAllowed(w, r) {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		c.refuse(w, r, apiError{Status: http.StatusUnsupportedMediaType, Reason: "content-type", Error: "want Content-Type: application/json"})
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		c.refuse(w, r, apiError{Status: http.StatusUnsupportedMediaType, Reason: "content-encoding", Error: "no Content-Encoding is accepted"})
		return
	}
	body := http.MaxBytesReader(w, r.Body, c.opts.MaxBody)
	batch, err := report.Decode(body, report.Options{Now: c.opts.Now(), MaxSkew: c.opts.MaxSkew, MaxAge: c.opts.MaxAge})
	if err != nil {
		c.refuse(w, r, decodeRefusal(err, c.opts.MaxBody))
		return
	}
	perDevice := map[string]int{}
	for i := range batch.Reports {
		perDevice[batch.Reports[i].Device]++
	}
	if ok, wait := c.devices.take(perDevice, c.opts.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		c.refuse(w, r, apiError{Status: http.StatusTooManyRequests, Reason: "rate-device", Error: "too many reports from one device"})
		return
	}
	if err := c.submit(r.Context(), batch.Reports); err != nil {
		if clientGone(r, err) {
			// Nobody reads the answer; the device retries with the same
			// report ids, which the store skips if they were committed.
			c.log.Debug("fleet: client gone before the commit", "remote", r.RemoteAddr, "reports", len(batch.Reports), "err", err)
			writeJSON(w, http.StatusServiceUnavailable, apiError{Reason: "storage", Error: "reports not stored, retry later"})
			return
		}
		c.refuse(w, r, apiError{Status: http.StatusServiceUnavailable, Reason: "storage", Error: "reports not stored, retry later"})
		return
	}
	writeJSON(w, http.StatusOK, Accepted{Accepted: len(batch.Reports)})
}

// decodeRefusal maps a decoding error to its answer: 413 for a body over
// the limit, 400 with the reason, report and field otherwise.
func decodeRefusal(err error, maxBody int64) apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apiError{Status: http.StatusRequestEntityTooLarge, Reason: "too-large", Error: fmt.Sprintf("body larger than %d bytes", maxBody)}
	}
	e := apiError{Status: http.StatusBadRequest, Reason: "bad-request", Error: err.Error()}
	var de *report.DecodeError
	if errors.As(err, &de) {
		e.Reason = string(de.Reason)
		e.Field = de.Field
		if de.Report >= 0 {
			i := de.Report
			e.Report = &i
		}
	}
	return e
}

// StatsResponse is the body of GET /v1/stats.
type StatsResponse struct {
	Improvements []ImprovementStats `json:"improvements"`
}

func (c *Collector) handleStats(w http.ResponseWriter, r *http.Request) {
	st, err := c.allStats(r.Context())
	if err != nil {
		c.logFailure(r, "fleet: stats", err)
		c.refuse(w, r, apiError{Status: http.StatusServiceUnavailable, Reason: "storage", Error: "statistics unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, StatsResponse{Improvements: st})
}

func (c *Collector) handleStatsOne(w http.ResponseWriter, r *http.Request) {
	f := Filter{Component: r.PathValue("component"), Improvement: r.PathValue("improvement")}
	probe := report.Report{Component: f.Component, Improvement: f.Improvement}
	if len(f.Component) > 64 || len(f.Improvement) > 64 || !validName(&probe) {
		c.refuse(w, r, apiError{Status: http.StatusBadRequest, Reason: "bad-value", Error: "not a component and improvement id"})
		return
	}
	st, err := c.opts.Store.Stats(r.Context(), f)
	if err != nil {
		c.logFailure(r, "fleet: stats", err)
		c.refuse(w, r, apiError{Status: http.StatusServiceUnavailable, Reason: "storage", Error: "statistics unavailable"})
		return
	}
	if len(st) == 0 {
		c.refuse(w, r, apiError{Status: http.StatusNotFound, Reason: "not-found", Error: fmt.Sprintf("no reports for %s/%s", f.Component, f.Improvement)})
		return
	}
	writeJSON(w, http.StatusOK, st[0])
}

// validName checks the component and improvement of p with the report
// format's own rules (the other fields are filled with valid values).
func validName(p *report.Report) bool {
	q := *p
	q.ID, q.Device = "00000000000000000000000000000000", "00000000000000000000000000000000"
	q.Platform, q.Release, q.Sequence, q.Outcome, q.Time = "p", "1", 1, report.Installed, time.Unix(1, 0)
	return q.Validate() == nil
}

// clientGone reports whether err is the end of r's context: the client
// closed its connection or gave up (a timeout of its own) before the
// answer. That is the client's doing, not a failure of the collector.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// logFailure logs a failed storage call made for r: at Error level, unless
// the client went away and its context cancelled the call, which is
// logged at Debug level (a fleet's devices come and go; an operator
// alerted on every one would learn to ignore the log).
func (c *Collector) logFailure(r *http.Request, msg string, err error) {
	level := slog.LevelError
	if clientGone(r, err) {
		level = slog.LevelDebug
		msg += ": client gone"
	}
	c.log.LogAttrs(r.Context(), level, msg, slog.String("remote", r.RemoteAddr), slog.Any("err", err))
}

// Pinger is a Store that can check its database (GET /healthz uses it).
type Pinger interface {
	Ping(ctx context.Context) error
}

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (c *Collector) handleHealth(w http.ResponseWriter, r *http.Request) {
	if p, ok := c.opts.Store.(Pinger); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			c.logFailure(r, "fleet: health", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}
