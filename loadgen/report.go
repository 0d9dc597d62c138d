package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// summarize turns the samples of a run into its figures.
func summarize(cfg Config, samples []sample, elapsed time.Duration) *Result {
	res := &Result{
		Label: cfg.Label, URL: cfg.URL, Conns: cfg.Conns, Duration: elapsed,
		Requests: int64(len(samples)), Errors: map[string]int64{},
	}
	var kinds []string
	byKind := map[string]*KindResult{}
	durs := map[string][]time.Duration{}
	for _, r := range cfg.Mix {
		if byKind[r.Kind] == nil {
			kinds = append(kinds, r.Kind)
			byKind[r.Kind] = &KindResult{Kind: r.Kind, Statuses: map[int]int64{}}
		}
		byKind[r.Kind].Files++
	}
	all := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		k := byKind[cfg.Mix[s.req].Kind]
		k.Requests++
		k.Bytes += s.bytes
		res.Bytes += s.bytes
		if s.code != 0 {
			k.Statuses[s.code]++
		}
		if s.err != "" {
			k.Errors++
			res.Errors[s.err]++
		}
		all = append(all, s.dur)
		durs[k.Kind] = append(durs[k.Kind], s.dur)
	}
	res.Latency = latency(all)
	for _, name := range kinds {
		k := byKind[name]
		k.Latency = latency(durs[name])
		res.Kinds = append(res.Kinds, *k)
	}
	if elapsed > 0 {
		res.ReqPerS = float64(res.Requests) / elapsed.Seconds()
	}
	return res
}

// latency computes nearest-rank percentiles; it sorts ds.
func latency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	return Latency{
		P50: percentile(ds, 50), P90: percentile(ds, 90),
		P99: percentile(ds, 99), Max: ds[len(ds)-1],
	}
}

// percentile is the nearest-rank p-th percentile of sorted ds: the
// smallest value with at least p% of the values at or below it.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// WriteTable prints results side by side, one column each. With exactly
// two, a last column gives the first's figure divided by the second's (for
// req/s above 1 means the first server was faster; for latencies, below 1).
func WriteTable(w io.Writer, rs ...*Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{""}
	for _, r := range rs {
		head = append(head, r.Label)
	}
	ratio := len(rs) == 2
	if ratio {
		head = append(head, rs[0].Label+"/"+rs[1].Label)
	}
	// Names are padded here: the writer aligns every column right.
	width := len("timestamp-304 requests")
	for _, k := range kindNames(rs) {
		width = max(width, len(k)+len(" requests"))
	}
	row := func(name string, val func(*Result) (string, float64)) {
		cells := []string{fmt.Sprintf("%-*s", width, name)}
		var nums []float64
		for _, r := range rs {
			s, n := val(r)
			cells = append(cells, s)
			nums = append(nums, n)
		}
		if ratio {
			cells = append(cells, fmtRatio(nums[0], nums[1]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	text := func(s string) (string, float64) { return s, -1 }
	count := func(n int64) (string, float64) { return strconv.FormatInt(n, 10), float64(n) }
	dur := func(d time.Duration) (string, float64) { return fmtDur(d), float64(d) }

	head[0] = strings.Repeat(" ", width)
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row("connections", func(r *Result) (string, float64) { return count(int64(r.Conns)) })
	row("duration", func(r *Result) (string, float64) { return dur(r.Duration) })
	row("requests", func(r *Result) (string, float64) { return count(r.Requests) })
	row("req/s", func(r *Result) (string, float64) { return fmt.Sprintf("%.0f", r.ReqPerS), r.ReqPerS })
	row("errors", func(r *Result) (string, float64) { return text(fmtErrors(r.Errors)) })
	row("p50", func(r *Result) (string, float64) { return dur(r.Latency.P50) })
	row("p90", func(r *Result) (string, float64) { return dur(r.Latency.P90) })
	row("p99", func(r *Result) (string, float64) { return dur(r.Latency.P99) })
	row("max", func(r *Result) (string, float64) { return dur(r.Latency.Max) })
	row("connections opened", func(r *Result) (string, float64) { return count(r.Dials) })
	row("MB read", func(r *Result) (string, float64) {
		mb := float64(r.Bytes) / 1e6
		return fmt.Sprintf("%.1f", mb), mb
	})
	for _, kind := range kindNames(rs) {
		row(kind+" requests", func(r *Result) (string, float64) { return count(findKind(r, kind).Requests) })
		row(kind+" status", func(r *Result) (string, float64) { return text(fmtStatuses(findKind(r, kind).Statuses)) })
		row(kind+" p99", func(r *Result) (string, float64) { return dur(findKind(r, kind).Latency.P99) })
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		for _, m := range r.FirstErrors {
			if _, err := fmt.Fprintf(w, "%s: %s\n", r.Label, m); err != nil {
				return err
			}
		}
	}
	return nil
}

func kindNames(rs []*Result) []string {
	var out []string
	for _, r := range rs {
		for _, k := range r.Kinds {
			if !slices.Contains(out, k.Kind) {
				out = append(out, k.Kind)
			}
		}
	}
	return out
}

func findKind(r *Result, kind string) KindResult {
	for _, k := range r.Kinds {
		if k.Kind == kind {
			return k
		}
	}
	return KindResult{}
}

func fmtErrors(errs map[string]int64) string {
	if len(errs) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, errs[k]))
	}
	return strings.Join(parts, ",")
}

func fmtStatuses(st map[int]int64) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(st)) {
		parts = append(parts, fmt.Sprintf("%d:%d", c, st[c]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtRatio(a, b float64) string {
	if a < 0 || b <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", a/b)
}
