package install

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkValidateArchive measures validation of a 100-file, 8 MiB
// tar.gz (b.SetBytes: expanded bytes per second).
func BenchmarkValidateArchive(b *testing.B) {
	var ents []ent
	body := strings.Repeat("0123456789abcdef", 5<<10) // 80 KiB
	for i := range 100 {
		ents = append(ents, file(fmt.Sprintf("lib/f%03d", i), body))
	}
	data := tarBytes(b, true, ents...)
	b.SetBytes(int64(100 * len(body)))
	for b.Loop() {
		if _, err := ValidateArchive(bytes.NewReader(data), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInstall measures a complete Install of a small payload, fsyncs
// included, alternating between two versions.
func BenchmarkInstall(b *testing.B) {
	ctx := context.Background()
	payloads := b.TempDir()
	paths := []string{payloadFor(b, payloads, "1"), payloadFor(b, payloads, "2")}
	in := newInstaller(b, Options{Root: filepath.Join(b.TempDir(), "root")})
	i := 0
	for b.Loop() {
		if err := in.Install(ctx, "webkit", fmt.Sprint(i%2+1), paths[i%2]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkValidateDeepLinks validates the archive of
// TestAttackQuadraticSymlinkArchive with 10,000 links, each resolving
// through a path 4,094 parts deep.
func BenchmarkValidateDeepLinks(b *testing.B) {
	data := deepLinkArchive(b, 10_000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ValidateArchive(bytes.NewReader(data), Limits{MaxEntries: 10_003}); err != nil {
			b.Fatal(err)
		}
	}
}
