package bench

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Floor is what a check cannot go below on this machine, measured in the
// same run on the same files: download over loopback of exactly the files
// bsi fetched (a new connection, sequential requests), one SHA-256 pass
// over all their bytes, one ed25519 signature check over the largest
// file, one JSON decode of each metadata file into the fields a client
// uses (custom fields kept raw), and one write and fsync of all of it.
type Floor struct {
	Time     time.Duration `json:"time_ns"` // the sum of the steps below
	Download time.Duration `json:"download_ns"`
	Hash     time.Duration `json:"sha256_ns"`
	Verify   time.Duration `json:"ed25519_ns"`
	Decode   time.Duration `json:"decode_ns"`
	Sync     time.Duration `json:"fsync_ns"`
	Files    int           `json:"files"`
	Bytes    int64         `json:"bytes"`
}

// floorDoc is the part of a TUF metadata file the floor decodes: every
// field a client reads, with custom kept as raw bytes.
type floorDoc struct {
	Signatures []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
	Signed struct {
		Type    string    `json:"_type"`
		Version int64     `json:"version"`
		Expires time.Time `json:"expires"`
		Meta    map[string]struct {
			Version int64             `json:"version"`
			Length  int64             `json:"length"`
			Hashes  map[string]string `json:"hashes"`
		} `json:"meta"`
		Targets map[string]struct {
			Length int64             `json:"length"`
			Hashes map[string]string `json:"hashes"`
			Custom json.RawMessage   `json:"custom"`
		} `json:"targets"`
		Delegations json.RawMessage `json:"delegations"`
	} `json:"signed"`
}

// measureFloor measures the floor of a check that requested paths from
// the server at url, writing into a fresh directory under dir. A path
// not found (the next-root probe) costs its request and nothing more.
func measureFloor(ctx context.Context, url, dir string, paths []string) (Floor, error) {
	var f Floor
	hc := newHTTPClient()
	defer hc.CloseIdleConnections()
	start := time.Now()
	bodies := make([][]byte, 0, len(paths))
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		b, err := get(ctx, hc, url+p)
		if err != nil {
			return Floor{}, fmt.Errorf("floor: %w", err)
		}
		if b != nil { // nil: not found, as the next-root probe is
			bodies, names = append(bodies, b), append(names, p)
		}
	}
	f.Download = time.Since(start)
	largest := 0
	for i, b := range bodies {
		f.Bytes += int64(len(b))
		if len(b) > len(bodies[largest]) {
			largest = i
		}
	}
	f.Files = len(bodies)
	if f.Files == 0 {
		return Floor{}, fmt.Errorf("floor: no files requested")
	}

	start = time.Now()
	for _, b := range bodies {
		sha256.Sum256(b)
	}
	f.Hash = time.Since(start)

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Floor{}, err
	}
	sig := ed25519.Sign(priv, bodies[largest])
	start = time.Now()
	if !ed25519.Verify(pub, bodies[largest], sig) {
		return Floor{}, fmt.Errorf("floor: ed25519 check of %s failed", names[largest])
	}
	f.Verify = time.Since(start)

	start = time.Now()
	for i, b := range bodies {
		if !strings.HasSuffix(names[i], ".json") {
			continue
		}
		var doc floorDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			return Floor{}, fmt.Errorf("floor: decoding %s: %w", names[i], err)
		}
	}
	f.Decode = time.Since(start)

	start = time.Now()
	if err := writeSync(filepath.Join(dir, "floor"), bodies); err != nil {
		return Floor{}, fmt.Errorf("floor: %w", err)
	}
	f.Sync = time.Since(start)
	f.Time = f.Download + f.Hash + f.Verify + f.Decode + f.Sync
	return f, nil
}

// get returns the body of url, or nil when it is not found.
func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(resp.ContentLength, 0)+bytes.MinRead))
	_, err = buf.ReadFrom(resp.Body)
	return buf.Bytes(), err
}

// writeSync writes bodies one after the other into a new file and syncs it.
func writeSync(name string, bodies [][]byte) error {
	defer os.Remove(name)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	for _, b := range bodies {
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Ratio is bsi's time over the floor's: 1 is as fast as can be.
func (f Floor) Ratio(bsi Measure) float64 {
	if f.Time <= 0 {
		return 0
	}
	return float64(bsi.Time) / float64(f.Time)
}

// medianFloor takes the median of each figure separately.
func medianFloor(fs []Floor) Floor {
	pick := func(g func(Floor) time.Duration) time.Duration {
		xs := make([]time.Duration, len(fs))
		for i, f := range fs {
			xs[i] = g(f)
		}
		return median(xs)
	}
	if len(fs) == 0 {
		return Floor{}
	}
	return Floor{
		Time:     pick(func(f Floor) time.Duration { return f.Time }),
		Download: pick(func(f Floor) time.Duration { return f.Download }),
		Hash:     pick(func(f Floor) time.Duration { return f.Hash }),
		Verify:   pick(func(f Floor) time.Duration { return f.Verify }),
		Decode:   pick(func(f Floor) time.Duration { return f.Decode }),
		Sync:     pick(func(f Floor) time.Duration { return f.Sync }),
		Files:    fs[len(fs)/2].Files,
		Bytes:    fs[len(fs)/2].Bytes,
	}
}
