package sim_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/manifest"
)

// A repository published by the real publisher, then a replayed timestamp
// staged on top of it.
func ExampleNewPublisher() {
	ctx := context.Background()
	r := sim.New(time.Now(), func(err error) { panic(err) })
	defer r.Close()
	dir, _ := os.MkdirTemp("", "sim-example-")
	defer os.RemoveAll(dir)
	p := sim.NewPublisher(ctx, r, sim.PublisherOptions{Dir: filepath.Join(dir, "ws"), Components: []string{"webkit"}})
	defer p.Close()

	old := r.Get("timestamp.json")
	p.Add(ctx, &manifest.Manifest{Schema: manifest.Schema, ID: "webkit-26.3-a", Title: "fix", Platform: "macos",
		Component: "webkit", AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}}, Sequence: 1,
		Severity: manifest.SeverityHigh, Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive},
		tarGz("lib/webkit.txt", "webkit-26.3-a\n"))
	p.Publish(ctx)
	for path, tf := range r.Targets["webkit"].Signed.Targets {
		fmt.Println(path, "listed by webkit version", r.Targets["webkit"].Signed.Version, "with", len(tf.Hashes), "hashes")
	}
	fmt.Println("timestamp version", r.Timestamp.Signed.Version)

	r.Set("timestamp.json", old) // a replay of version 1
	// Output:
	// webkit/webkit-26.3-a.tar.gz listed by webkit version 2 with 1 hashes
	// timestamp version 2
}

func tarGz(name, body string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
	tw.Write([]byte(body))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}
