package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/fleet/report"
)

// newCollector returns a collector on s with the tests' clock, closed at
// the end of the test.
func newCollector(t testing.TB, s Store, mods ...func(*Options)) *Collector {
	t.Helper()
	o := Options{Store: s, Now: func() time.Time { return t0 }}
	for _, m := range mods {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func encode(t testing.TB, rs ...report.Report) []byte {
	t.Helper()
	b, err := report.Batch{Reports: rs}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends body to the collector in-process and returns the status and
// the decoded answer (an apiError for refusals).
func post(t testing.TB, h http.Handler, body io.Reader, hdr map[string]string) (int, apiError, http.Header) {
	t.Helper()
	req := httptest.NewRequest("POST", "/v1/reports", body)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var e apiError
	if w.Code != http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("status %d with a body that is not a refusal: %q", w.Code, w.Body.String())
		}
	}
	return w.Code, e, w.Header()
}

func getJSON(t testing.TB, h http.Handler, path string, v any) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	if w.Code == http.StatusOK && v != nil {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return w.Code
}

func TestCollectorRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		c := newCollector(t, s)
		srv := httptest.NewServer(c)
		defer srv.Close()
		body := encode(t, rep(1, 1), rep(2, 2, outcome(report.HealthFailed)), rep(3, 3, stage(2)))
		for range 2 { // the second time is a retry: same answer, nothing added
			resp, err := http.Post(srv.URL+"/v1/reports", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var a Accepted
			json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if resp.StatusCode != 200 || a.Accepted != 3 {
				t.Fatalf("POST: %d %+v, want 200 accepted 3", resp.StatusCode, a)
			}
		}
		var all StatsResponse
		if code := getJSON(t, c, "/v1/stats", &all); code != 200 || len(all.Improvements) != 1 {
			t.Fatalf("GET /v1/stats: %d %+v", code, all)
		}
		var one ImprovementStats
		if code := getJSON(t, c, "/v1/stats/webkit/wk-2026-001", &one); code != 200 {
			t.Fatalf("GET one: %d", code)
		}
		if d := cmp.Diff(all.Improvements[0], one); d != "" {
			t.Errorf("one improvement differs from the list (-list +one):\n%s", d)
		}
		if one.Devices != 3 || one.FailedDevices != 1 || one.AttemptedDevices != 3 || len(one.ByStage) != 2 {
			t.Errorf("stats %+v, want 3 devices, 1 failed of 3 attempted, 2 stages", one.Counts)
		}
		if code := getJSON(t, c, "/v1/stats/webkit/wk-2026-999", nil); code != 404 {
			t.Errorf("unknown improvement: %d, want 404", code)
		}
		if code := getJSON(t, c, "/v1/stats/Root/x", nil); code != 400 {
			t.Errorf("invalid name: %d, want 400", code)
		}
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		resp.Body.Close()
	})
}

// repeat is a reader of n copies of s, without holding them in memory.
type repeat struct {
	s   string
	n   int
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		k := copy(p, r.s[r.off:])
		p, total, r.off = p[k:], total+k, r.off+k
		if r.off == len(r.s) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 && r.n == 0 {
		return 0, io.EOF
	}
	return total, nil
}

func stream(prefix, pattern string, n int, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), &repeat{s: pattern, n: n}, strings.NewReader(suffix))
}

// validFields is one valid report as raw JSON fields, in order.
var validFields = [][2]string{
	{"report_id", `"` + hexID(1, 9) + `"`}, {"device", `"` + hexID(2, 9) + `"`},
	{"platform", `"examplephone"`}, {"release", `"26.3"`}, {"build", `"23D60"`}, {"ring", `"canary"`},
	{"component", `"webkit"`}, {"improvement", `"wk-2026-001"`}, {"sequence", `1`}, {"stage", `1`},
	{"outcome", `"installed"`}, {"error_class", `""`}, {"time", `"2026-12-03T13:59:00Z"`},
}

// with returns a batch of one report whose field key has the raw value v
// (added when new; removed when v is ""); "key!" adds a second copy.
func with(kv ...string) string {
	fields := append([][2]string(nil), validFields...)
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		found := false
		for j := range fields {
			if fields[j][0] == k {
				fields[j][1], found = v, true
			}
		}
		if !found {
			fields = append(fields, [2]string{strings.TrimSuffix(k, "!"), v})
		}
	}
	var b strings.Builder
	b.WriteString(`{"reports":[{`)
	first := true
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:%s", f[0], f[1])
	}
	b.WriteString(`}]}`)
	return b.String()
}

// TestAttackHostileReports sends hostile batches: each is refused whole
// with its specific status and reason, in bounded memory and time, and the
// statistics do not change.
func TestAttackHostileReports(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		c := newCollector(t, s)
		if code, e, _ := post(t, c, bytes.NewReader(encode(t, rep(1, 1))), nil); code != 200 {
			t.Fatalf("valid batch: %d %+v", code, e)
		}
		before, err := s.Stats(context.Background(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range hostileCases() {
			var m0, m1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m0)
			start := time.Now()
			code, e, _ := post(t, c, tc.body, tc.hdr)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&m1)
			if code != tc.status || e.Reason != tc.reason {
				t.Errorf("%s: %d %q (%s), want %d %q", tc.name, code, e.Reason, e.Error, tc.status, tc.reason)
			}
			if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 8<<20 {
				t.Errorf("%s: allocated %d bytes, want at most 8 MiB", tc.name, alloc)
			}
			if elapsed > 5*time.Second {
				t.Errorf("%s: took %s", tc.name, elapsed)
			}
			if len(e.Error) > 600 {
				t.Errorf("%s: error message of %d bytes echoes the input", tc.name, len(e.Error))
			}
		}
		after, err := s.Stats(context.Background(), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(before, after); d != "" {
			t.Errorf("hostile reports changed the statistics (-before +after):\n%s", d)
		}
		if got := len(storedIDs(t, dsn)); got != 1 {
			t.Errorf("%d reports stored, want 1", got)
		}
	})
}

type hostileCase struct {
	name   string
	body   io.Reader
	hdr    map[string]string
	status int
	reason string
}

// hostileCases are fresh readers of every hostile batch, with the answer each must get.
func hostileCases() []hostileCase {
	sql := `"'; DROP TABLE reports; --"`
	big := func(field string, n int) io.Reader {
		pre := with(field, `"`)
		i := strings.Index(pre, `"`+field+`":"`) + len(field) + 4
		return stream(pre[:i], "a", n, pre[i:])
	}
	many := func(n int) string {
		one := with()
		obj := one[len(`{"reports":[`) : len(one)-2]
		return `{"reports":[` + strings.TrimSuffix(strings.Repeat(obj+",", n), ",") + `]}`
	}
	return []hostileCase{
		{"huge body", stream(`{"reports":[`, " ", 2<<20, with()[12:]), nil, 413, "too-large"},
		{"device id of 10 MB", big("device", 10<<20), nil, 413, "too-large"},
		{"deeply nested value", stream(`{"reports":[{"device":`, "[", 1<<20, ""), nil, 400, "nested"},
		{"deeply nested batch", stream("", "[", 1<<20, ""), nil, 400, "wrong-type"},
		{"nested object value", strings.NewReader(with("platform", `{"a":{"b":1}}`)), nil, 400, "nested"},
		{"string for integer", strings.NewReader(with("sequence", `"1"`)), nil, 400, "wrong-type"},
		{"number for string", strings.NewReader(with("device", `12345`)), nil, 400, "wrong-type"},
		{"null device", strings.NewReader(with("device", `null`)), nil, 400, "wrong-type"},
		{"boolean outcome", strings.NewReader(with("outcome", `true`)), nil, 400, "wrong-type"},
		{"reports not an array", strings.NewReader(`{"reports":{}}`), nil, 400, "wrong-type"},
		{"float sequence", strings.NewReader(with("sequence", `1.5`)), nil, 400, "bad-value"},
		{"huge exponent", strings.NewReader(with("sequence", `1e400`)), nil, 400, "bad-value"},
		{"negative stage", strings.NewReader(with("stage", `-1`)), nil, 400, "bad-value"},
		{"unknown field", strings.NewReader(with("hostname", `"laptop.example.com"`)), nil, 400, "unknown-field"},
		{"case-folded field", strings.NewReader(with("Device!", `"`+hexID(2, 1)+`"`)), nil, 400, "unknown-field"},
		{"unknown batch field", strings.NewReader(`{"reports":[],"extra":1}`), nil, 400, "unknown-field"},
		{"duplicate field", strings.NewReader(with("outcome!", `"health-failed"`)), nil, 400, "duplicate-field"},
		{"missing time", strings.NewReader(with("time", "")), nil, 400, "missing-field"},
		{"missing device", strings.NewReader(with("device", "")), nil, 400, "missing-field"},
		{"future time", strings.NewReader(with("time", `"2026-12-03T15:00:00Z"`)), nil, 400, "time-future"},
		{"far future time", strings.NewReader(with("time", `"9999-12-31T23:59:59Z"`)), nil, 400, "time-future"},
		{"ancient time", strings.NewReader(with("time", `"1970-01-01T00:00:00Z"`)), nil, 400, "time-too-old"},
		{"time not UTC", strings.NewReader(with("time", `"2026-12-03T15:59:00+02:00"`)), nil, 400, "bad-value"},
		{"device is a hostname", strings.NewReader(with("device", `"laptop.corp.example.com"`)), nil, 400, "bad-value"},
		{"device id too long", strings.NewReader(with("device", `"`+strings.Repeat("a", 1000)+`"`)), nil, 400, "bad-value"},
		{"unknown outcome", strings.NewReader(with("outcome", `"exploded"`)), nil, 400, "bad-value"},
		{"reserved component", strings.NewReader(with("component", `"root"`)), nil, 400, "bad-value"},
		{"control character", strings.NewReader(with("platform", `"a\u0000b"`)), nil, 400, "bad-value"},
		{"invalid utf-8", strings.NewReader(with("platform", "\"a\xffb\"")), nil, 400, "bad-value"},
		{"SQL in report_id", strings.NewReader(with("report_id", sql)), nil, 400, "bad-value"},
		{"SQL in device", strings.NewReader(with("device", sql)), nil, 400, "bad-value"},
		{"SQL in platform", strings.NewReader(with("platform", sql)), nil, 400, "bad-value"},
		{"SQL in release", strings.NewReader(with("release", sql)), nil, 400, "bad-value"},
		{"SQL in build", strings.NewReader(with("build", sql)), nil, 400, "bad-value"},
		{"SQL in ring", strings.NewReader(with("ring", sql)), nil, 400, "bad-value"},
		{"SQL in component", strings.NewReader(with("component", sql)), nil, 400, "bad-value"},
		{"SQL in improvement", strings.NewReader(with("improvement", sql)), nil, 400, "bad-value"},
		{"SQL in outcome", strings.NewReader(with("outcome", sql)), nil, 400, "bad-value"},
		{"SQL in error_class", strings.NewReader(with("error_class", sql)), nil, 400, "bad-value"},
		{"SQL in time", strings.NewReader(with("time", sql)), nil, 400, "bad-value"},
		{"SQL as field name", strings.NewReader(with("x'; DROP TABLE reports; --", `1`)), nil, 400, "unknown-field"},
		{"empty batch", strings.NewReader(`{"reports":[]}`), nil, 400, "batch-size"},
		{"too many reports", strings.NewReader(many(report.MaxBatch + 1)), nil, 400, "batch-size"},
		{"trailing data", strings.NewReader(with() + `{}`), nil, 400, "syntax"},
		{"not JSON", strings.NewReader(`reports=1`), nil, 400, "syntax"},
		{"cut off", strings.NewReader(with()[:40]), nil, 400, "syntax"},
		{"empty body", strings.NewReader(""), nil, 400, "syntax"},
		{"wrong content type", strings.NewReader(with()), map[string]string{"Content-Type": "text/plain"}, 415, "content-type"},
		{"no content type", strings.NewReader(with()), map[string]string{"Content-Type": ""}, 415, "content-type"},
		{"gzip body", strings.NewReader(with()), map[string]string{"Content-Encoding": "gzip"}, 415, "content-encoding"},
	}
}

// TestAttackFloodFromOneDevice sends more reports from one device id than
// its burst: 429 with Retry-After, nothing of the refused batches stored,
// and other devices unaffected.
func TestAttackFloodFromOneDevice(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store, dsn string) {
		now := t0
		c := newCollector(t, s, func(o *Options) {
			o.DeviceRate, o.DeviceBurst = 1, 10
			o.Now = func() time.Time { return now }
		})
		n := 0
		batch := func(dev, k int) io.Reader {
			var rs []report.Report
			for range k {
				n++
				rs = append(rs, rep(n, dev))
			}
			return bytes.NewReader(encode(t, rs...))
		}
		if code, e, _ := post(t, c, batch(1, 10), nil); code != 200 {
			t.Fatalf("first burst: %d %+v", code, e)
		}
		code, e, h := post(t, c, batch(1, 1), nil)
		if code != 429 || e.Reason != "rate-device" || h.Get("Retry-After") == "" {
			t.Fatalf("flood: %d %+v Retry-After %q, want 429 rate-device with Retry-After", code, e, h.Get("Retry-After"))
		}
		// A batch mixing the flooding device with another is refused whole.
		mixed := encode(t, rep(1000, 2), rep(1001, 1))
		if code, _, _ := post(t, c, bytes.NewReader(mixed), nil); code != 429 {
			t.Fatalf("mixed batch: %d, want 429", code)
		}
		if code, e, _ := post(t, c, batch(2, 5), nil); code != 200 {
			t.Fatalf("another device: %d %+v", code, e)
		}
		// More than a burst in one batch is never accepted.
		if code, _, _ := post(t, c, batch(3, 11), nil); code != 429 {
			t.Fatalf("batch over the burst: %d, want 429", code)
		}
		now = now.Add(3 * time.Second)
		if code, e, _ := post(t, c, batch(1, 3), nil); code != 200 {
			t.Fatalf("after waiting: %d %+v", code, e)
		}
		if got := len(storedIDs(t, dsn)); got != 18 {
			t.Fatalf("%d reports stored, want 18 (10+5+3)", got)
		}
	})
}

// TestAttackFloodFromOneAddress sends more requests from one address than
// its burst, each with a new device id: 429 before the body is read.
func TestAttackFloodFromOneAddress(t *testing.T) {
	s, dsn := openStore(t, "sqlite")
	c := newCollector(t, s, func(o *Options) { o.AddrRate, o.AddrBurst = 1, 5 })
	for i := range 8 {
		code, e, _ := post(t, c, bytes.NewReader(encode(t, rep(i, i))), nil)
		want := 200
		if i >= 5 {
			want = 429
		}
		if code != want || (want == 429 && e.Reason != "rate-address") {
			t.Fatalf("request %d: %d %+v, want %d", i, code, e, want)
		}
	}
	if got := len(storedIDs(t, dsn)); got != 5 {
		t.Fatalf("%d reports stored, want 5", got)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLimiter(1, 5, 100)
	now := t0
	for i := range 10000 {
		l.take(map[string]int{fmt.Sprint(i): 1}, now)
	}
	if len(l.buckets) > 100 {
		t.Fatalf("%d buckets kept, want at most 100", len(l.buckets))
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
