package repo

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// bigRepo builds a workspace with n improvements of one component (in bins
// when bins > 0), all signed and ready to publish.
func bigRepo(b *testing.B, n, bins int) *fixture {
	b.Helper()
	f := newFixture(b)
	f.init(1, "root1")
	ctx := b.Context()
	if err := f.ws.Delegate(ctx, "webkit", DelegateOptions{Keys: f.tufKeys("webkit1"), Bins: bins}); err != nil {
		b.Fatal(err)
	}
	payload := f.payload("shared", "one payload for every improvement")
	const chunk = 5000
	for i := 0; i < n; i += chunk {
		var reqs []AddRequest
		for j := i; j < min(n, i+chunk); j++ {
			reqs = append(reqs, AddRequest{Manifest: manifestJSON(fmt.Sprintf("webkit-%06d", j), "webkit", j+1), Payload: payload})
		}
		if _, err := f.ws.AddBatch(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	f.sign("root1", "targets", "webkit1")
	return f
}

// benchmarkFreshPublish measures the first publish of a repository of n
// improvements to an empty destination.
func benchmarkFreshPublish(b *testing.B, n, bins int) {
	if n >= 100000 && testing.Short() {
		b.Skip("100k improvements: not under -short")
	}
	var written int
	for b.Loop() {
		b.StopTimer()
		f := bigRepo(b, n, bins)
		b.StartTimer()
		written = len(f.publish().Written)
	}
	b.ReportMetric(float64(written), "files-written")
}

func BenchmarkPublishFresh1k(b *testing.B)        { benchmarkFreshPublish(b, 1000, 0) }
func BenchmarkPublishFresh10k(b *testing.B)       { benchmarkFreshPublish(b, 10000, 0) }
func BenchmarkPublishFresh100kBins(b *testing.B)  { benchmarkFreshPublish(b, 100000, 256) }
func BenchmarkAddOnePublish10k(b *testing.B)      { benchmarkAddOne(b, 10000, 0) }
func BenchmarkAddOnePublish100kBins(b *testing.B) { benchmarkAddOne(b, 100000, 256) }

// benchmarkAddOne measures what a publisher waits for when adding one
// improvement to a big published repository: open, add (signed), publish,
// close. It reports the files the last round wrote.
func benchmarkAddOne(b *testing.B, n, bins int) {
	if n >= 100000 && testing.Short() {
		b.Skip("100k improvements: not under -short")
	}
	f := bigRepo(b, n, bins)
	f.publish()
	f.ws.Close()
	payload := f.payload("one", "the new one")
	seq := n
	var written []string
	for b.Loop() {
		seq++
		w, err := Open(b.Context(), f.dir, f.opts())
		if err != nil {
			b.Fatal(err)
		}
		f.ws = w
		if _, err := w.Add(b.Context(), AddRequest{Manifest: manifestJSON(fmt.Sprintf("webkit-%06d", seq-1), "webkit", seq),
			Payload: payload, Signers: f.signers_("webkit1")}); err != nil {
			b.Fatal(err)
		}
		written = f.publish().Written
		w.Close()
		f.clock = f.clock.Add(time.Second)
	}
	b.ReportMetric(float64(len(written)), "files-written")
	b.Logf("files written by the last add+publish: %s", strings.Join(written, " "))
}
